"""What an upload would do, without doing it: per course, the students it would add, change and leave as they
are; the columns it keeps, drops and might have meant. Nothing is stored: no registry row, no landed file.

The answer is the same validation as a real upload (so a preview that passes uploads), and a comparison with
the current state: a student is changed when a column the file carries differs from what is stored (a column
the file leaves out keeps its value, as the upsert does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.catalog import RECORD_KEY, header_key, load_catalog
from passcompass_assets.core.db.tables import final_grades, student_records, uploads
from passcompass_assets.core.ingest.formats import Formats
from passcompass_assets.core.ingest.pseudonyms import pseudonymise
from passcompass_assets.core.ingest.uploads import content_key, validate_for_storage
from passcompass_assets.core.ingest.validation import (
    MAX_UPLOAD_COURSES,
    MAX_UPLOAD_PERIODS,
    UploadKind,
    suggestions,
    to_frame,
)


@dataclass
class CourseChange:
    course_id: str
    period_id: str
    new: int
    changed: int
    unchanged: int


@dataclass
class Preview:
    """The answer of ``dry_run=true``: what would happen, and that nothing was stored."""

    kind: str
    rows: int
    courses: list[CourseChange]
    columns: list[str]  # kept, by canonical name
    dropped_columns: list[str]
    suggested_columns: dict[str, list[str]] = field(default_factory=dict)  # dropped header -> catalog names
    warnings: list[str] = field(default_factory=list)
    duplicate_of: str | None = None  # the same file was received before: committing changes nothing
    stored: bool = False


def _stored(engine: Engine, kind: str, course_id: str, period_id: str, columns: list[str]) -> pd.DataFrame:
    table = final_grades if kind == "final_grades" else student_records
    wanted = [table.c[name] for name in ("user_id", *columns) if name in table.c]
    query = sa.select(*wanted).where(table.c.course_id == course_id, table.c.period_id == period_id)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in wanted])


def _same(incoming: pd.Series, stored: pd.Series) -> np.ndarray:
    """Equal values, missing equal to missing; numbers compared as numbers (a float column and an integer)."""
    left, right = incoming.astype(object), stored.astype(object)
    both_missing = pd.isna(left).to_numpy() & pd.isna(right).to_numpy()
    try:
        equal = np.isclose(left.astype(float), right.astype(float), rtol=0, atol=1e-9)
    except (TypeError, ValueError):
        equal = (left == right).fillna(False).to_numpy(dtype=bool)
    return np.asarray(both_missing | equal, dtype=bool)


def _changes(engine: Engine, kind: str, frame: pd.DataFrame) -> list[CourseChange]:
    # Dated snapshots: the latest per student is what the current state would become.
    if "as_of_date" in frame.columns:
        frame = frame.sort_values("as_of_date", kind="stable", na_position="first")
    latest = frame.drop_duplicates(list(RECORD_KEY), keep="last")
    columns = [c for c in latest.columns if c not in RECORD_KEY]
    found = []
    for (course_id, period_id), rows in latest.groupby(["course_id", "period_id"], sort=True):
        stored = _stored(engine, kind, str(course_id), str(period_id), columns)
        compared = [c for c in columns if c in stored.columns]
        merged = rows.merge(stored, on="user_id", how="left", suffixes=("", "__stored"), indicator=True)
        known = (merged["_merge"] == "both").to_numpy()
        same = np.ones(len(merged), dtype=bool)
        for column in compared:
            same &= _same(merged[column], merged[f"{column}__stored"])
        found.append(
            CourseChange(
                str(course_id),
                str(period_id),
                new=int((~known).sum()),
                changed=int((known & ~same).sum()),
                unchanged=int((known & same).sum()),
            )
        )
    return found


def preview_upload(
    engine: Engine,
    content: bytes,
    *,
    kind: UploadKind = "students",
    course_id: str | None = None,
    period_id: str | None = None,
    default_period_id: str = "default",
    default_grade_max: float = 20.0,
    pseudonym_key: str | None = None,
    formats: Formats | None = None,
    confirm_before_end: bool = False,
    max_courses: int = MAX_UPLOAD_COURSES,
    max_periods: int = MAX_UPLOAD_PERIODS,
) -> Preview:
    """What ``receive_upload`` and applying it would do; raises the same :class:`Rejected`. Stores nothing."""
    validated = validate_for_storage(
        engine,
        content,
        kind=kind,
        course_id=course_id,
        period_id=period_id,
        default_period_id=default_period_id,
        default_grade_max=default_grade_max,
        formats=formats,
        confirm_before_end=confirm_before_end,
        max_courses=max_courses,
        max_periods=max_periods,
    )
    frame = to_frame(pseudonymise(validated.table, pseudonym_key))
    key = content_key(content, kind, course_id, period_id, formats)
    with engine.connect() as conn:
        duplicate_of = conn.execute(sa.select(uploads.c.upload_id).where(uploads.c.content_key == key)).scalar()
    catalog = load_catalog()
    unknown = [n for n in validated.dropped_columns if header_key(n) not in catalog.header_lookup and n[:1] != "("]
    suggested = {name: close for name in unknown if (close := suggestions(name, catalog))}
    return Preview(
        kind=kind,
        rows=validated.rows,
        courses=_changes(engine, kind, frame),
        columns=validated.table.column_names,
        dropped_columns=validated.dropped_columns,
        suggested_columns=suggested,
        warnings=validated.warnings,
        duplicate_of=duplicate_of,
    )
