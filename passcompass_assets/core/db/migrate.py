"""Schema migrations with Alembic, configured in code so they ship inside the package."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> list[tuple[str, str, str]]:
    """The migrations up to ``revision``, then the record tables brought to the effective catalog (a
    :class:`~passcompass_assets.core.catalog.CatalogError` before any change if the catalog cannot be applied);
    returns the catalog's changes."""
    from passcompass_assets.core.catalog import load_catalog
    from passcompass_assets.core.db.catalog_schema import plan_changes, sync_catalog_columns
    from passcompass_assets.core.db.engine import get_engine

    catalog, engine = load_catalog(), get_engine(url)
    inspector = sa.inspect(engine)
    if inspector.has_table("student_records") and inspector.has_table("record_versions"):
        with engine.connect() as conn:
            plan_changes(conn, catalog)  # refuse a catalog that would lose data before migrating anything
    command.upgrade(alembic_config(url), revision)
    return sync_catalog_columns(engine, catalog) if revision == "head" else []


@cache
def ensure_schema(url: str) -> None:
    """The database at the newest revision and the catalog's columns; checked once per process and URL (a
    process's later operations skip Alembic's start-up)."""
    upgrade(url)
