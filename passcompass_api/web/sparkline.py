"""A student's fail probability over the term as a small inline SVG chart (no script, no external file)."""

from __future__ import annotations

from markupsafe import Markup, escape

from passcompass_api.web.filters import day, percent
from passcompass_assets.core.workspace import Point


def sparkline(points: list[Point], high: float, width: int = 132, height: int = 30) -> Markup:
    """The student's probability in each report of the term, with the high-risk line (gaps where absent)."""
    known = [(i, p) for i, p in enumerate(points) if p.probability is not None]
    step = (width - 8) / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(4 + i * step, 1)

    def y(value: float) -> float:
        return round(height - 3 - value * (height - 6), 1)

    said = "; ".join(f"{day(p.report_date)}: {percent(p.probability)}" for p in points)
    line = " ".join(f"{x(i)},{y(p.probability or 0)}" for i, p in known)
    dots = "".join(
        f'<circle cx="{x(i)}" cy="{y(p.probability or 0)}" r="2.4" class="dot {escape(p.band or "")}"></circle>'
        for i, p in known
    )
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape("fail probability over the term: " + said)}">'
        f'<line x1="0" x2="{width}" y1="{y(high)}" y2="{y(high)}" class="threshold"></line>'
        f'<polyline points="{line}" class="trend"></polyline>{dots}</svg>'
    )
