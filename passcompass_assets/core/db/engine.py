"""One pooled engine per database URL and process: SQLite tuned for a reader beside a writer, PostgreSQL on psycopg2.

Errors carry no values: statement parameters are hidden (``hide_parameters``), and the driver's own message is cut
to its first line with quoted values masked (PostgreSQL's DETAIL quotes a row's key), so an error logged, stored
on an upload or posted as an alert never holds a student's data.
"""

from __future__ import annotations

import sqlite3
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine, ExceptionContext

from passcompass_assets.core.db.redact import redact_driver_message


def _on_connect_sqlite(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a Dagster run writes; busy_timeout makes writers wait instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def with_driver(url: str) -> str:
    """PostgreSQL URLs use psycopg2 (its ``COPY`` drives bulk upserts), whatever driver the URL names or omits."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def _redact_error(context: ExceptionContext) -> None:
    """Both the SQLAlchemy error and the driver's own (a traceback shows the chain) lose the quoted values."""
    for error in (context.sqlalchemy_exception, context.original_exception):
        if error is not None and error.args and isinstance(error.args[0], str):
            error.args = (redact_driver_message(error.args[0]), *error.args[1:])


@cache
def get_engine(url: str) -> Engine:
    """One pooled engine per database URL and process."""
    url = with_driver(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)
        sa.event.listen(engine, "connect", _on_connect_sqlite)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)
    sa.event.listen(engine, "handle_error", _redact_error)
    return engine
