"""Dagster resources: configurable classes over the platform settings (environment variables)."""

from typing import TYPE_CHECKING

import dagster as dg
from sqlalchemy.engine import Engine

from passcompass_assets.core.db import get_engine
from passcompass_assets.core.landing import LandingStore
from passcompass_assets.core.settings import Settings

if TYPE_CHECKING:
    from passcompass_assets.core.report_model import ReportModel


class PlatformResource(dg.ConfigurableResource):
    """Where the platform keeps its state: the operational database and the file stores under home.

    Left empty, each field falls back to the ``PASSCOMPASS_*`` environment (see ``core/settings.py``).
    """

    home: str | None = None
    database_url: str | None = None

    @property
    def settings(self) -> Settings:
        overrides = {k: v for k, v in {"home": self.home, "database_url": self.database_url}.items() if v}
        return Settings(**overrides)

    @property
    def engine(self) -> Engine:
        return get_engine(self.settings.db_url)

    @property
    def landing(self) -> LandingStore:
        return LandingStore(self.settings.landing_dir)


class ModelResource(dg.ConfigurableResource):
    """The model reports use: the MLflow champion, else the newest registered version (low confidence)."""

    home: str | None = None

    def load(self) -> "ReportModel | None":
        from passcompass_assets.core.report_model import load_report_model

        settings = Settings(home=self.home) if self.home else Settings()
        return load_report_model(settings)
