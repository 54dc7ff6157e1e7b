"""Where the dbt models land and how to read them; free of Dagster and dbt, so the API and the model can import it.

SQLite: every model is in ``main`` of the operational file (dbt-sqlite would put another schema in another file,
out of reach of the operational engine). PostgreSQL: models are in the ``analytics`` schema, apart from the
Alembic-owned operational tables in ``public``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
POSTGRES_SCHEMA = "analytics"
POSTGRES_SOURCE_SCHEMA = "public"

STUDENT_FEATURES = "student_features"
TRAINING_SET = "training_set"
KEYS = ("user_id", "course_id", "period_id")
STAGES = ("no_interim", "interim_1", "interim_2")
# Columns student_features adds to the catalog features; all numeric except ``stage``.
DERIVED_FEATURES = (
    "grade_max",
    "pass_mark",
    "pass_fraction",
    "has_interim_grade_1",
    "has_interim_grade_2",
    "stage",
    "interim_grade_1_fraction",
    "interim_grade_2_fraction",
    "interim_grade_change",
)
# Columns training_set adds to student_features: never model inputs.
LABELS = ("final_grade", "final_grade_fraction", "failed")
_DATE_COLUMNS = ("as_of_date",)
_TIMESTAMP_COLUMNS = ("record_updated_at",)


def models_schema(dialect_name: str) -> str | None:
    """The schema of the dbt models on a dialect (None: SQLite's ``main``, the default)."""
    return None if dialect_name == "sqlite" else POSTGRES_SCHEMA


def read_table(engine: Engine, name: str) -> pd.DataFrame:
    """A dbt model (e.g. ``student_features``, ``training_set``) as a frame with the same dtypes on both dialects."""
    table = sa.table(name, schema=models_schema(engine.dialect.name))
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(sa.text("*")).select_from(table), conn)
    # SQLite hands dates and timestamps back as text; PostgreSQL as date and datetime objects.
    for column in _DATE_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    for column in _TIMESTAMP_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
