"""Rewriting stored results without some students: a report re-rendered from its JSON, an evaluation redacted.

A report's JSON holds its whole header and every row, so the three files (CSV, JSON, HTML) are rendered again
from it by the report store's own renderers, under the same id (links keep working), and its index row updated.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import reports
from passcompass_assets.core.reports.build import BANDS, COLUMNS, Report, ReportHeader
from passcompass_assets.core.reports.outcomes import Evaluation, LeadTime, ReportOutcome, store_evaluation
from passcompass_assets.core.reports.render import RENDERERS
from passcompass_assets.core.reports.store import ReportRecord

# Which students to drop: a frame of report rows -> a boolean Series marking the rows to remove.
RowFilter = Callable[[pd.DataFrame], pd.Series]


def _header(values: dict[str, Any]) -> ReportHeader:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(ReportHeader):
        if f.name not in values:
            continue
        value = values[f.name]
        kind = str(f.type).replace(" | None", "").replace("Optional[", "").rstrip("]")
        if kind == "date" and isinstance(value, str):
            value = date.fromisoformat(value)
        elif kind == "datetime" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        kwargs[f.name] = value
    return ReportHeader(**kwargs)


def load_report(reports_dir: Path, record: ReportRecord) -> tuple[Report, dict[str, Any]]:
    """The stored report as a :class:`Report` (header and rows), and the JSON it came from."""
    stored = json.loads(record.file(reports_dir, "json").read_text(encoding="utf-8"))
    rows = stored.get("rows") or []
    students = pd.DataFrame(rows)
    if students.empty:
        students = pd.DataFrame({c: pd.Series(dtype=float if c.endswith(("probability", "grade")) else object)
                                 for c in COLUMNS})  # fmt: skip
    order = [c for c in COLUMNS if c in students.columns] + [c for c in students.columns if c not in COLUMNS]
    return Report(str(stored.get("report_id", record.report_id)), _header(stored), students[order]), stored


def drop_rows(report: Report, remove: RowFilter, *, recount: bool) -> tuple[Report, int]:
    """The report without the rows ``remove`` marks; with ``recount`` its header counts follow (an erasure),
    else they stay as reported (retention keeps aggregates)."""
    if report.students.empty:
        return report, 0
    mask = remove(report.students).to_numpy(dtype=bool)
    removed = int(mask.sum())
    if not removed:
        return report, 0
    students = report.students.loc[~mask].reset_index(drop=True)
    header = report.header
    if recount:
        signals = students["signals_available"].value_counts() if "signals_available" in students else {}
        header = dataclasses.replace(
            header,
            students=len(students),
            band_counts={band: int((students["risk_band"] == band).sum()) for band in BANDS},
            signals={str(k): int(v) for k, v in dict(signals).items()},
        )
    return Report(report.report_id, header, students), removed


def write_report(
    engine: Engine, reports_dir: Path, record: ReportRecord, report: Report, extra: dict[str, object] | None = None
) -> None:
    """Render the report's files again in place and update its index row; ``extra`` keys go into its JSON."""
    folder = reports_dir / record.location
    for fmt, render in RENDERERS.items():
        content = render(report)
        if fmt == "json" and extra:
            content = json.dumps({**json.loads(content), **extra}, ensure_ascii=False).encode()
        _replace(folder / f"report.{fmt}", content)
    header = report.header
    with engine.begin() as conn:
        conn.execute(
            reports.update()
            .where(reports.c.report_id == record.report_id)
            .values(students=header.students, band_counts=header.band_counts, header=header.as_dict())
        )


def _replace(path: Path, content: bytes) -> None:
    """Atomically: a reader sees the old file or the new one."""
    temporary = path.with_name(path.name + ".rewrite")
    temporary.write_bytes(content)
    temporary.replace(path)


def report_user_ids(reports_dir: Path, record: ReportRecord) -> set[str]:
    path = record.file(reports_dir, "json")
    if not path.exists():
        return set()
    rows = json.loads(path.read_text(encoding="utf-8")).get("rows") or []
    return {str(row.get("user_id")) for row in rows}


def load_evaluation(path: Path) -> Evaluation:
    values = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in dataclasses.fields(Evaluation)}
    kwargs = {k: v for k, v in values.items() if k in names}
    kwargs["reports"] = [ReportOutcome(**r) for r in values.get("reports", [])]
    kwargs["lead_time"] = LeadTime(**values.get("lead_time", {}))
    return Evaluation(**kwargs)


def redact_evaluation(reports_dir: Path, path: Path, keep: Callable[[str], bool]) -> int:
    """Rewrite an evaluation (JSON and HTML) keeping only the first flags ``keep`` accepts; how many went."""
    evaluation = load_evaluation(path)
    flags = evaluation.lead_time.first_flags
    kept = {user: day for user, day in flags.items() if keep(user)}
    if len(kept) == len(flags):
        return 0
    lead_time = dataclasses.replace(evaluation.lead_time, first_flags=kept)
    store_evaluation(reports_dir, dataclasses.replace(evaluation, lead_time=lead_time))
    return len(flags) - len(kept)


def reports_generated_after(engine: Engine, period_id: str, after: datetime) -> bool:
    query = sa.select(sa.func.count()).where(reports.c.period_id == period_id, reports.c.generated_at > after)
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar_one())
