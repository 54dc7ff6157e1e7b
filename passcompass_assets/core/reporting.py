"""Period reports: from scored students to an immutable set of files (CSV, JSON, HTML) indexed in ``reports``.

A report says what the model knew and how much to trust it: the model version and its validation metrics, the
quality-gate state ("low confidence" when no champion passed the gate), and per student the signals it had.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy.engine import Engine

from passcompass_assets.core.cadence import next_report_date, report_number, week_of_term
from passcompass_assets.core.db import courses, reports
from passcompass_assets.core.periods import Period, list_periods

BANDS = ("high", "medium", "low")
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json", "html": "text/html; charset=utf-8"}
COLUMNS = [
    "user_id",
    "course_id",
    "period_id",
    "fail_probability",
    "risk_band",
    "predicted_final_grade",
    "top_factors",
    "signals_available",
    "data_as_of",
]
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Report:
    report_id: str
    header: dict[str, object]
    students: pd.DataFrame  # COLUMNS, sorted by fail probability, highest first

    @property
    def course_id(self) -> str:
        return str(self.header["course_id"])


def risk_bands(probability: pd.Series, high: float, medium: float) -> pd.Series:
    values = probability.to_numpy(dtype=float)
    return pd.Series(np.select([values >= high, values >= medium], ["high", "medium"], "low"), index=probability.index)


def build_report(
    scored: pd.DataFrame,
    *,
    course_id: str,
    period: Period,
    as_of: date,
    model: dict[str, object] | None,
    risk_high: float,
    risk_medium: float,
    data_as_of: pd.Series | None = None,
    drift: dict[str, object] | None = None,
) -> Report:
    """``scored``: one row per student with fail_probability, predicted_final_grade, top_factors (text),
    signals_available. ``model``: version, metrics and gate state of the model used (None: no model)."""
    students = scored.copy()
    students["course_id"] = course_id
    students["period_id"] = period.period_id
    students["risk_band"] = risk_bands(students["fail_probability"], risk_high, risk_medium)
    dates = data_as_of if data_as_of is not None else pd.Series(as_of, index=students.index)
    students["data_as_of"] = pd.to_datetime(dates, errors="coerce").dt.strftime("%Y-%m-%d")
    students["fail_probability"] = students["fail_probability"].round(4)
    students["predicted_final_grade"] = students["predicted_final_grade"].round(1)
    students = students[COLUMNS].sort_values(["fail_probability", "user_id"], ascending=[False, True])
    promoted = bool(model and model.get("promoted"))
    header: dict[str, object] = {
        "course_id": course_id,
        "period_id": period.period_id,
        "report_date": as_of.isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "report_number": report_number(period, as_of),
        "week_of_term": week_of_term(period, as_of),
        "period_start": period.start_date.isoformat(),
        "period_end": period.end_date.isoformat(),
        "students": len(students),
        "band_counts": {band: int((students["risk_band"] == band).sum()) for band in BANDS},
        "risk_thresholds": {"high": risk_high, "medium": risk_medium},
        "model_version": (model or {}).get("version"),
        "model_metrics": (model or {}).get("metrics", {}),
        "quality_gate": (model or {}).get("gate", "no model has been trained"),
        "confidence": "normal" if promoted else "low",
        "signals": students["signals_available"].value_counts().to_dict(),
        "drift": drift,
    }
    if not promoted:
        header["warning"] = (
            "Low confidence: no model has passed the quality gate, so these probabilities are not validated "
            "to be better than a naive guess. Use them with care."
        )
    return Report(report_id=str(uuid.uuid4()), header=header, students=students.reset_index(drop=True))


def _neutralised(table: pa.Table) -> pa.Table:
    """Text cells made inert in a spreadsheet (a leading quote); numbers, even "-1", stay numbers."""
    for i, field in enumerate(table.schema):
        if not pa.types.is_string(field.type) and not pa.types.is_large_string(field.type):
            continue
        text = table.column(i)
        starts = [pc.starts_with(text, prefix) for prefix in FORMULA_PREFIXES]
        risky = pc.fill_null(functools.reduce(pc.or_, starts), False)
        if not pc.any(risky).as_py():
            continue
        cells = zip(text.to_pylist(), risky.to_pylist(), strict=True)
        safe = ["'" + v if flag and not _is_number(v) else v for v, flag in cells]
        table = table.set_column(i, field, pa.array(safe, type=field.type))
    return table


def _is_number(value: str | None) -> bool:
    try:
        float(value or "")
    except ValueError:
        return False
    return True


def to_csv(report: Report) -> bytes:
    table = _neutralised(pa.Table.from_pandas(report.students, preserve_index=False))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def to_json(report: Report) -> bytes:
    """The header's fields and ``rows``, one object per student (pandas writes the rows: fast and exact)."""
    header = json.dumps({"report_id": report.report_id, **report.header})
    rows = report.students.to_json(orient="records", force_ascii=False)
    return f'{header[:-1]}, "rows": {rows}}}'.encode()


def _histogram(probabilities: pd.Series, high: float, medium: float, bins: int = 10) -> list[dict[str, object]]:
    counts = pd.cut(probabilities, bins=[i / bins for i in range(bins + 1)], include_lowest=True).value_counts(
        sort=False
    )
    peak = max(int(counts.max()) if len(counts) else 0, 1)
    bars = []
    for i, count in enumerate(counts.tolist()):
        low_edge = i / bins
        band = "high" if low_edge >= high else "medium" if low_edge >= medium else "low"
        bars.append({"index": i, "count": int(count), "height": 135 * int(count) / peak, "band": band, "low": low_edge})
    return bars


_templates = Environment(
    loader=PackageLoader("passcompass_assets.core", "templates"), autoescape=select_autoescape(["html"])
)


def to_html(report: Report) -> bytes:
    thresholds = report.header["risk_thresholds"]
    assert isinstance(thresholds, dict)
    html = _templates.get_template("report.html").render(
        report_id=report.report_id,
        header=report.header,
        rows=_student_rows(report.students),
        bars=_histogram(report.students["fail_probability"], thresholds["high"], thresholds["medium"]),
    )
    return html.encode("utf-8")


def _student_rows(students: pd.DataFrame) -> Markup:
    """The table body, built column-wise: a template loop costs seconds for a 10,000-student course."""
    percent = _formatted((students["fail_probability"] * 100).round(0).astype("Int64"), " %")
    grade = _formatted(students["predicted_final_grade"].round(1))
    cells = zip(
        *(_escaped(students[c]) for c in ("user_id", "risk_band")),
        percent,
        grade,
        *(_escaped(students[c]) for c in ("top_factors", "signals_available", "data_as_of")),
        strict=True,
    )
    return Markup(
        "\n".join(
            f'<tr><td>{user}</td><td class="{band}">{band}</td><td class="num">{p}</td><td class="num">{g}</td>'
            f"<td>{factors}</td><td>{signals}</td><td>{as_of}</td></tr>"
            for user, band, p, g, factors, signals, as_of in cells
        )
    )


def _formatted(numbers: pd.Series, unit: str = "") -> np.ndarray:
    return np.where(numbers.isna(), "n/a", numbers.astype(str) + unit)


def _escaped(values: pd.Series) -> np.ndarray:
    """HTML-escaped text, missing values empty; only values holding a special character are escaped."""
    text = values.astype(object).where(values.notna(), "").astype(str).to_numpy(dtype=object)
    special = pc.match_substring_regex(pa.array(text, type=pa.string()), "[<>&\"']").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(special):
        text[i] = str(escape(text[i]))
    return text


RENDERERS = {"csv": to_csv, "json": to_json, "html": to_html}


def file_name(header: dict[str, object], fmt: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{header['course_id']}_{header['period_id']}")
    return f"passcompass_{safe}_{header['report_date']}.{fmt}"


def store_report(engine: Engine, reports_dir: Path, report: Report) -> str:
    """Write the report's files once (never overwritten) and index them; returns the report id."""
    location = f"{report.report_id[:2]}/{report.report_id}"
    folder = reports_dir / location
    folder.mkdir(parents=True, exist_ok=False)
    for fmt, render in RENDERERS.items():
        (folder / f"report.{fmt}").write_bytes(render(report))
    header = report.header
    with engine.begin() as conn:
        conn.execute(
            reports.insert().values(
                report_id=report.report_id,
                course_id=header["course_id"],
                period_id=header["period_id"],
                report_date=date.fromisoformat(str(header["report_date"])),
                report_number=header["report_number"],
                week_of_term=header["week_of_term"],
                generated_at=datetime.fromisoformat(str(header["generated_at"])),
                students=header["students"],
                band_counts=header["band_counts"],
                model_version=header["model_version"],
                confidence=header["confidence"],
                header=header,
                location=location,
            )
        )
    return report.report_id


def list_reports(engine: Engine, course_id: str | None = None, period_id: str | None = None) -> list[sa.Row]:
    query = sa.select(reports).order_by(reports.c.report_date.desc(), reports.c.generated_at.desc())
    if course_id:
        query = query.where(reports.c.course_id == course_id)
    if period_id:
        query = query.where(reports.c.period_id == period_id)
    with engine.connect() as conn:
        return list(conn.execute(query))


def get_report(engine: Engine, report_id: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(reports).where(reports.c.report_id == report_id)).first()


def report_file(reports_dir: Path, row: sa.Row, fmt: str) -> Path:
    return reports_dir / row.location / f"report.{fmt}"


@dataclass
class LatestReport:
    row: sa.Row | None
    period: Period | None
    next_due: date | None

    def explanation(self, course_id: str) -> str:
        if self.period is None:
            return f"no report for course {course_id!r} yet, and no period is current"
        due = f"; the next report is due on {self.next_due.isoformat()}" if self.next_due else ""
        return f"no report for course {course_id!r} in period {self.period.period_id!r} yet{due}"


def latest_report(engine: Engine, course_id: str, period_id: str | None, today: date) -> LatestReport:
    """The most recent report of the named period, else of the current period (the one containing today);
    a course whose periods have no dates falls back to its most recent report."""
    known = {p.period_id: p for p in list_periods(engine)}
    if period_id:
        period = known.get(period_id)
        rows = list_reports(engine, course_id, period_id)
    else:
        current = [p for p in known.values() if p.contains(today)]
        rows = [r for r in list_reports(engine, course_id) if any(r.period_id == p.period_id for p in current)]
        period = next((p for p in current if not rows or p.period_id == rows[0].period_id), None)
        if not rows and not current:
            rows = list_reports(engine, course_id)
    if rows:
        return LatestReport(rows[0], known.get(rows[0].period_id), None)
    return LatestReport(None, period, next_report_date(period, today) if period else None)


def course_periods(engine: Engine, course_id: str) -> list[str]:
    """Periods in which a course has data, oldest first."""
    query = sa.select(courses.c.period_id).where(courses.c.course_id == course_id).order_by(courses.c.created_at)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())
