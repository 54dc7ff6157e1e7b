"""One pooled engine per database URL and process: SQLite tuned for a reader beside a writer, PostgreSQL on psycopg2."""

from __future__ import annotations

import sqlite3
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine


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


@cache
def get_engine(url: str) -> Engine:
    """One pooled engine per database URL and process."""
    url = with_driver(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _on_connect_sqlite)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
