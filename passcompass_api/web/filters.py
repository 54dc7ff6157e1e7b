"""How the pages write values: dates as instructors read them, percentages, grades on a course's scale."""

from __future__ import annotations

import re

from passcompass_assets.core.ml.wording import day
from passcompass_assets.core.workspace import Scale

__all__ = ["FILTERS", "change", "day", "grade", "percent", "plain"]


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


# The core answers API clients: routes and field names. On a page they are the page's own words.
_WORDS = [
    (re.compile(r"PUT /api/v1/periods/\S+?(?=[),;]|$|\s)"), "the Terms page"),
    (re.compile(r"on its page or with PUT /api/v1/courses/\S+?(?=[),;]|$|\s)"), "on the Courses page"),
    (re.compile(r"PUT /api/v1/courses/\S+?(?=[),;]|$|\s)"), "the Courses page"),
    (re.compile(r"POST /api/v1/final-grades"), "a final-grades upload"),
    (re.compile(r"GET /api/v1/catalog"), "the column catalog"),
    (re.compile(r"confirm_before_end=true"), "the box “These final grades come before the term's end”"),
    (re.compile(r"\bconfirm_before_end\b"), "the box “before the term's end”"),
    (re.compile(r"\bdecimal_separator\b"), "the decimal separator"),
    (re.compile(r"\bdate_format\b"), "the date format"),
    (re.compile(r"\bstart_date\b"), "the start date"),
    (re.compile(r"\bend_date\b"), "the end date"),
    (re.compile(r"\bgrade_max\b"), "the grade scale"),
    (re.compile(r"\bpass_mark\b"), "the pass mark"),
    (re.compile(r"\bcadence_weeks\b"), "the weeks between reports"),
    (re.compile(r"\bno period_id was sent\b"), "no term was chosen"),
    (re.compile(r"\bperiod (?=\S)"), "term "),
]


def plain(text: str, capital: bool = True) -> str:
    """A message of the core (written for API clients) in a page's words: no routes, no field names; a sentence
    starts with a capital unless ``capital`` is False (it starts with a column named as the file spells it)."""
    for pattern, words in _WORDS:
        text = pattern.sub(words, text)
    text = text.replace("?.", "?")
    return text[:1].upper() + text[1:] if capital else text


# The Jinja filters every template may use.
FILTERS = {"day": day, "percent": percent, "change": change, "plain": plain}
