"""The operational database: tables, engine and Alembic migrations."""
