"""Alembic environment: the URL comes from the caller (``passcompass db upgrade``), the schema from core.db."""

from __future__ import annotations

from alembic import context

from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.db.tables import metadata

config = context.config


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Only tables this schema defines: on SQLite, dbt's views and marts share the database."""
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_online() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
            # Dagster and MLflow keep their own `alembic_version` when they share this database.
            version_table="passcompass_alembic_version",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
