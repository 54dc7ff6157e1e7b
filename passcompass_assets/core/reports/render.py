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
    table = _neutralised(pa.Table.from_pandas(report.students, preserve_index=False))
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


def to_html(report: Report) -> bytes:
    thresholds = report.header.risk_thresholds
    html = templates.get_template("report.html").render(
        report_id=report.report_id,
        header=report.header.as_dict(),
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
        *(_escaped(students[c]) for c in ("top_factors", "background_factors", "signals_available", "data_as_of")),
        strict=True,
    )
    return Markup(
        "\n".join(
            f'<tr><td>{user}</td><td class="{band}">{band}</td><td class="num">{p}</td><td class="num">{g}</td>'
            f'<td>{factors}</td><td class="background">{background}</td><td>{signals}</td><td>{as_of}</td></tr>'
            for user, band, p, g, factors, background, signals, as_of in cells
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


def file_name(course_id: str, period_id: str, report_date: date, fmt: str) -> str:
    """The download's file name: ids reduced to letters, digits, '-' and '_' (they come from uploads)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{course_id}_{period_id}")
    return f"passcompass_{safe}_{report_date.isoformat()}.{fmt}"
