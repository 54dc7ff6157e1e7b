"""A report as files: CSV (safe to open in a spreadsheet), JSON (header and rows) and HTML (with a chart)."""

from __future__ import annotations

import functools
import json
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from passcompass_assets.core.ml import wording
from passcompass_assets.core.reports.build import Report

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json", "html": "text/html; charset=utf-8"}
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
    """One row per student; the reasons as text (the structured factors are the JSON's)."""
    students = report.students.drop(columns=["factors"], errors="ignore")
    table = _neutralised(pa.Table.from_pandas(students, preserve_index=False))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def to_json(report: Report) -> bytes:
    """The header's fields and ``rows``, one object per student (pandas writes the rows: fast and exact)."""
    header = json.dumps({"report_id": report.report_id, **report.header.as_dict()})
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


templates = Environment(
    loader=PackageLoader("passcompass_assets.core.reports", "templates"), autoescape=select_autoescape(["html"])
)
templates.filters["day"] = wording.day
templates.filters["label"] = wording.label


def to_html(report: Report) -> bytes:
    """A page to read: the summary and the students first, the model's quality in an appendix (words, then
    figures with their names)."""
    thresholds = report.header.risk_thresholds
    header = report.header.as_dict()
    html = templates.get_template("report.html").render(
        report_id=report.report_id,
        header=header,
        rows=_student_rows(report.students),
        bars=_histogram(report.students["fail_probability"].dropna(), thresholds["high"], thresholds["medium"]),
        quality=wording.quality_words(report.header.model_quality),
        figures=wording.quality_table(report.header.model_quality, report.header.model_metrics),
        drift=wording.drift_words(report.header.drift),
        gate=wording.gate_words(
            report.header.quality_gate,
            report.header.quality_gate.startswith("passed"),
            validated=report.header.warning is None,
        ),
    )
    return html.encode("utf-8")


def _reasons(factors: object, text: str, gaps: str) -> str:
    """A student's reasons, one line each under its area, then what is missing (escaped HTML)."""
    listed = (
        [f for f in factors if isinstance(f, dict) and f.get("kind") != "background"]
        if isinstance(factors, list)
        else []
    )
    lines = [
        f'<li><span class="area">{escape(wording.AREA_LABELS.get(str(f.get("area")), ""))}</span> '
        f"{escape(f.get('text', ''))}</li>"
        for f in listed
    ] or ([f"<li>{escape(t)}</li>" for t in text.split("; ")] if text else [])
    out = f'<ul class="reasons">{"".join(lines)}</ul>' if lines else ""
    if gaps:
        out += f'<p class="gap">{escape(gaps)}</p>'
    return out or '<span class="muted">none stand out</span>'


def _student_rows(students: pd.DataFrame) -> Markup:
    """The table body, built column-wise: a template loop costs seconds for a 10,000-student course."""
    percent = _formatted((students["fail_probability"] * 100).round(0).astype("Int64"), " %")
    grade = _formatted(students["predicted_final_grade"].round(1))
    bands = students["risk_band"].astype(object).where(students["risk_band"].notna(), "")
    factors = students["factors"] if "factors" in students else pd.Series([[]] * len(students), index=students.index)
    gaps = students["data_gaps"] if "data_gaps" in students else pd.Series("", index=students.index)
    reasons = [
        _reasons(f, str(t or ""), str(g or ""))
        for f, t, g in zip(factors, students["top_factors"].fillna(""), gaps.fillna(""), strict=True)
    ]
    background = _escaped(students["background_factors"])
    background[background == ""] = '<span class="muted">none stand out</span>'  # a bare label reads as broken
    cells = zip(
        _escaped(students["user_id"]),
        _escaped(bands),
        percent,
        grade,
        reasons,
        background,
        _escaped(students["signals_available"]),
        strict=True,
    )
    return Markup(
        "\n".join(
            f'<tr><th scope="row" data-label="Student">{user}</th>'
            f'<td data-label="Risk" class="band {band or "unknown"}">{band or "not enough data"}</td>'
            f'<td data-label="Fail probability" class="num">{p}</td>'
            f'<td data-label="Predicted grade" class="num">{g}</td>'
            f'<td data-label="Reasons">{why}</td><td data-label="Background" class="background">{background}</td>'
            f'<td data-label="What it knew">{signals}</td></tr>'
            for user, band, p, g, why, background, signals in cells
        )
    )


def _formatted(numbers: pd.Series, unit: str = "") -> np.ndarray:
    return np.where(numbers.isna(), "—", numbers.astype(str) + unit)


def _escaped(values: pd.Series) -> np.ndarray:
    """HTML-escaped text, missing values empty; only values holding a special character are escaped."""
    text = values.astype(object).where(values.notna(), "").astype(str).to_numpy(dtype=object)
    special = pc.match_substring_regex(pa.array(text, type=pa.string()), "[<>&\"']").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(special):
        text[i] = str(escape(text[i]))
    return text


RENDERERS = {"csv": to_csv, "json": to_json, "html": to_html}


def file_name(course_id: str, period_id: str, report_date: date, fmt: str) -> str:
    """The download's file name: ids reduced to letters, digits, '-' and '_' (they come from uploads)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{course_id}_{period_id}")
    return f"passcompass_{safe}_{report_date.isoformat()}.{fmt}"
