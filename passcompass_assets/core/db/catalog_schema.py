"""The record tables follow the effective catalog: a column for every stored feature, of its catalog type.

Run after the Alembic migrations (``passcompass db upgrade``, and every service's start): a column a deployment
catalog adds is added to ``student_records`` and ``record_versions`` with Alembic's operations, on SQLite and
PostgreSQL alike; a column whose type changed is altered while it holds no data, and refused once it does. Every
problem is found before anything changes, and the changes are one transaction: nothing is migrated half-way.
A column the catalog no longer stores (switched to ``ignore``) keeps what it holds; no upload writes to it again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

from passcompass_assets.core.catalog import Catalog, CatalogError
from passcompass_assets.core.db.tables import record_versions, sql_type, student_records

RECORD_TABLES = (student_records, record_versions)


def _kind(column_type: sa.types.TypeEngine) -> str:
    """The catalog kind a database type stores (lengths aside: a category and a string are both text)."""
    for kind, python_type in (("boolean", bool), ("integer", int), ("number", float), ("date", None)):
        if kind == "date" and isinstance(column_type, sa.Date):
            return kind
        if python_type is not None and _python_type(column_type) is python_type:
            return kind
    return "text"


def _python_type(column_type: sa.types.TypeEngine) -> type | None:
    try:
        return column_type.python_type
    except NotImplementedError:
        return None


def _holds_data(conn: Connection, table: str, column: str) -> bool:
    query = sa.select(sa.literal(1)).select_from(sa.table(table)).where(sa.column(column).is_not(None)).limit(1)
    return conn.execute(query).first() is not None


def plan_changes(conn: Connection, catalog: Catalog) -> list[tuple[str, str, str]]:
    """(table, column, "add" or "alter") for every change the catalog needs; :class:`CatalogError` for one that
    would lose data."""
    inspector = sa.inspect(conn)
    changes = []
    for table in RECORD_TABLES:
        existing = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        for column in catalog.stored_features:
            if column.name not in existing:
                changes.append((table.name, column.name, "add"))
            elif _kind(existing[column.name]) != _kind(sql_type(column)):
                if _holds_data(conn, table.name, column.name):
                    raise CatalogError(
                        catalog.source,
                        column.name,
                        f"changes the type of a column that already holds data (now {column.type}; "
                        f"stored as {existing[column.name]} in {table.name})",
                    )
                changes.append((table.name, column.name, "alter"))
    return changes


def sync_catalog_columns(engine: Engine, catalog: Catalog) -> list[tuple[str, str, str]]:
    """Bring the record tables to the catalog; returns the changes made."""
    with engine.begin() as conn:
        changes = plan_changes(conn, catalog)
        operations = Operations(MigrationContext.configure(conn))
        for table in RECORD_TABLES:
            mine = [(name, change) for name_of, name, change in changes if name_of == table.name]
            if not mine:
                continue
            with operations.batch_alter_table(table.name) as batch:
                for name, change in mine:
                    column_type = sql_type(catalog[name])
                    if change == "add":
                        batch.add_column(sa.Column(name, column_type, nullable=True))
                    else:  # empty, so nothing to convert
                        using = f"NULL::{column_type.compile(conn.dialect)}"
                        batch.alter_column(name, type_=column_type, postgresql_using=using)
    return changes
