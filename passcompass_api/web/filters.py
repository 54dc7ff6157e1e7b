"""How the pages write values: dates as instructors read them, percentages, grades on a course's scale."""

from __future__ import annotations

from passcompass_assets.core.ml.wording import day
from passcompass_assets.core.workspace import Scale

__all__ = ["FILTERS", "change", "day", "grade", "percent"]


def percent(value: float | None) -> str:
    return "not enough data" if value is None else f"{value * 100:.0f} %"


def change(value: float | None) -> str:
    """A change of probability in points: "+12", "±0", "−3"; None: the student is new to the report."""
    if value is None:
        return "new"
    points = round(value * 100)
    return f"+{points}" if points > 0 else "±0" if points == 0 else f"−{-points}"


def grade(value: float | None, scale: Scale) -> str:
    if value is None:
        return "not enough data"
    return f"{value:.1f} / {scale.grade_max:g}" if scale.grade_max else f"{value:.1f}"


# The Jinja filters every template may use.
FILTERS = {"day": day, "percent": percent, "change": change}
