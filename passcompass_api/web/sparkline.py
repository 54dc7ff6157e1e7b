"""A student's fail probability over the term as a small inline SVG chart (no script, no external file).

Across: the term's reports by week; up: the probability, 0 % at the bottom, 100 % at the top. With ``axes`` (the
student page's larger chart) both are labelled; the course page's small ones are explained by the legend.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from passcompass_api.web.filters import day, percent
from passcompass_assets.core.workspace import Point

LEFT, BOTTOM = 40, 16  # room for the labels of the axes


def _week(point: Point) -> str:
    return f"week {point.week}" if point.week is not None else day(point.report_date)


def sparkline(points: list[Point], high: float, width: int = 132, height: int = 30, axes: bool = False) -> Markup:
    """The student's probability in each report of the term, with the high-risk line (gaps where absent)."""
    known = [(i, p) for i, p in enumerate(points) if p.probability is not None]
    left, bottom = (LEFT, BOTTOM) if axes else (4, 3)
    step = (width - left - (18 if axes else 6)) / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(left + i * step, 1)

    def y(value: float) -> float:
        return round(height - bottom - value * (height - bottom - 4), 1)

    said = "; ".join(
        f"{_week(p)}: {percent(p.probability) if p.band else 'not in this report or not enough data'}" for p in points
    )
    line = " ".join(f"{x(i)},{y(p.probability or 0)}" for i, p in known)
    dots = "".join(
        f'<circle cx="{x(i)}" cy="{y(p.probability or 0)}" r="2.4" class="dot {escape(p.band or "")}"></circle>'
        for i, p in known
    )
    labels = ""
    if axes:
        labels = (
            f'<text x="{left - 6}" y="{y(1) + 4}" text-anchor="end">100 %</text>'
            f'<text x="{left - 6}" y="{y(0) + 4}" text-anchor="end">0 %</text>'
            f'<line x1="{left - 3}" x2="{left - 3}" y1="{y(1)}" y2="{y(0)}" class="axis"></line>'
            + "".join(
                f'<text x="{x(i)}" y="{height - 2}" text-anchor="middle">'
                f"{escape(f'wk {p.week}' if p.week is not None else day(p.report_date))}</text>"
                for i, p in enumerate(points)
            )
        )
    name = "fail probability by report week, 0 to 100 %: " + said
    return Markup(
        f'<svg class="spark{" axes" if axes else ""}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}"><title>{escape(name)}</title>'
        f'<line x1="{left}" x2="{width - 2}" y1="{y(high)}" y2="{y(high)}" class="threshold"></line>'
        f'<polyline points="{line}" class="trend"></polyline>{dots}{labels}</svg>'
    )
