"""Dagster resources: configurable classes over the platform settings (environment variables)."""

from pathlib import Path

import dagster as dg
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ml.loader import LoadedModel, load_model
from passcompass_assets.core.settings import Settings


class PlatformResource(dg.ConfigurableResource):
    """Where the platform keeps its state: the operational database and the file stores under home.

    Left empty, each field falls back to the ``PASSCOMPASS_*`` environment (see ``core/settings.py``).
    """

    home: str | None = None
    database_url: str | None = None

    @property
    def settings(self) -> Settings:
        settings = Settings()
        if self.home:
            settings = settings.model_copy(update={"home": Path(self.home)})
        if self.database_url:
            settings = settings.model_copy(update={"database_url": self.database_url})
        return settings

    @property
    def engine(self) -> Engine:
        return get_engine(self.settings.db_url)

    @property
    def landing(self) -> LandingStore:
        return LandingStore(self.settings.landing_dir)


class ModelResource(dg.ConfigurableResource):
    """The model reports use: the MLflow champion, else the newest registered version (low confidence)."""

    home: str | None = None

    def load(self) -> LoadedModel | None:
        settings = Settings()
        return load_model(settings.model_copy(update={"home": Path(self.home)}) if self.home else settings)
