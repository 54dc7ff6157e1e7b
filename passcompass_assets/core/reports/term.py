"""Risk over the term: a course period's stored reports side by side, student by student.

Each report is as it was made on its date (point in time), so the trajectory of a student is read from the stored
reports of the term, never recomputed. A report's JSON is parsed once per process and kept while its file is
unchanged (an erasure rewrites the file, which drops the copy): a course page of 10,000 students then costs a
filter and a sort, not a parse.

"New to high risk": high in a report and not high in the one before it (or absent from it; in the term's first
report, every high-risk student). "Risk rising": the probability up by at least :data:`RISING_BY` since the
report before.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.reports.build import COLUMNS
from passcompass_assets.core.reports.store import ReportRecord, list_reports, one_per_date

RISING_BY: Final = 0.05
ROW_COLUMNS: Final = [c for c in COLUMNS if c not in ("course_id", "period_id")]
_CACHE_SIZE: Final = 64
_lock = threading.Lock()
_rows: OrderedDict[tuple[object, ...], pd.DataFrame] = OrderedDict()
_tables: OrderedDict[tuple[object, ...], TermTable] = OrderedDict()


def _signature(path: Path) -> tuple[object, ...] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _remember(cache: OrderedDict[tuple[object, ...], object], key: tuple[object, ...], value: object) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c.endswith(("probability", "grade")) else object)
                         for c in ROW_COLUMNS})  # fmt: skip


def report_rows(reports_dir: Path, record: ReportRecord) -> pd.DataFrame:
    """The report's student rows (``ROW_COLUMNS``), highest risk first. Shared: treat as read-only."""
    path = record.file(reports_dir, "json")
    signature = _signature(path)
    if signature is None:
        return _empty_rows()
    if (cached := _rows.get(signature)) is not None:
        return cached
    rows = json.loads(path.read_text(encoding="utf-8")).get("rows") or []
    frame = pd.DataFrame(rows) if rows else _empty_rows()
    for column in ROW_COLUMNS:
        if column not in frame:
            frame[column] = "" if not column.endswith(("probability", "grade")) else np.nan
    if "factors" in frame:  # structured factors (lists); reports from before them have none
        frame["factors"] = [v if isinstance(v, list) else [] for v in frame["factors"]]
    frame = frame[ROW_COLUMNS].copy()
    frame["user_id"] = frame["user_id"].astype(str)
    for column in ("fail_probability", "predicted_final_grade"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in ("risk_band", "top_factors", "background_factors", "data_gaps", "signals_available", "data_as_of"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    _remember(_rows, signature, frame)
    return frame


@dataclass(frozen=True)
class TermTable:
    """A course period's reports up to one of them (``current``), oldest first, and per student of ``current``:
    its row with the change since the report before (``previous_probability``, ``previous_band``, ``change``,
    ``new_high``, ``rising``), plus the probability in every report of the term (``probabilities``: one column
    per report, by position; NaN where the student was not in it)."""

    records: tuple[ReportRecord, ...]
    current: pd.DataFrame
    probabilities: pd.DataFrame
    bands: pd.DataFrame

    @property
    def latest(self) -> ReportRecord | None:
        return self.records[-1] if self.records else None

    @property
    def previous(self) -> ReportRecord | None:
        return self.records[-2] if len(self.records) > 1 else None

    @property
    def new_high(self) -> int:
        return int(self.current["new_high"].sum())

    @property
    def rising(self) -> int:
        return int(self.current["rising"].sum())


def term_reports(engine: Engine, course_id: str, period_id: str) -> list[ReportRecord]:
    """The course period's reports, one per date, oldest first."""
    records = one_per_date(list_reports(engine, course_id, period_id))
    return sorted(records, key=lambda r: (r.report_date, r.generated_at))


def _changes(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    frame = current.copy()
    if previous is None:
        frame["previous_probability"] = np.nan
        frame["previous_band"] = None
    else:
        before = previous.set_index("user_id")
        frame["previous_probability"] = frame["user_id"].map(before["fail_probability"]).astype(float)
        frame["previous_band"] = frame["user_id"].map(before["risk_band"]).astype(object)
    frame["change"] = frame["fail_probability"] - frame["previous_probability"]
    high = frame["risk_band"] == "high"
    frame["new_high"] = high & (frame["previous_band"] != "high")
    frame["rising"] = (frame["change"] >= RISING_BY - 1e-9).fillna(False).astype(bool)
    return frame


def term_table(
    engine: Engine, reports_dir: Path, course_id: str, period_id: str, until: str | None = None
) -> TermTable:
    """The term up to the report ``until`` (its id; default the latest). Cached while the reports' files stay."""
    records = term_reports(engine, course_id, period_id)
    if until is not None:
        position = next((i for i, r in enumerate(records) if r.report_id == until), None)
        records = records[: position + 1] if position is not None else []
    key = tuple(_signature(r.file(reports_dir, "json")) or r.report_id for r in records)
    if (cached := _tables.get(key)) is not None:
        return cached
    frames = [report_rows(reports_dir, r) for r in records]
    if not frames:
        empty = _changes(_empty_rows(), None)
        return TermTable((), empty, pd.DataFrame(), pd.DataFrame())
    current = _changes(frames[-1], frames[-2] if len(frames) > 1 else None)
    users = pd.Index(current["user_id"])
    probabilities = pd.DataFrame(
        {i: users.map(f.set_index("user_id")["fail_probability"]) for i, f in enumerate(frames)}, index=users
    ).astype(float)
    bands = pd.DataFrame({i: users.map(f.set_index("user_id")["risk_band"]) for i, f in enumerate(frames)}, index=users)
    table = TermTable(tuple(records), current, probabilities, bands)
    _remember(_tables, key, table)  # type: ignore[arg-type]
    return table


def student_history(reports_dir: Path, records: list[ReportRecord], user_id: str) -> list[tuple[ReportRecord, dict]]:
    """The student's row in each report of ``records`` that has them, in the records' order."""
    out = []
    for record in records:
        rows = report_rows(reports_dir, record)
        found = rows.loc[rows["user_id"] == user_id]
        if len(found):
            out.append((record, found.iloc[0].to_dict()))
    return out
