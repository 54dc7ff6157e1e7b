"""Requests the platform refuses, with what is wrong and where; the API answers them as 4xx JSON.

Every refusal has one shape, ``{error, detail, problems: [{row, column, message}]}``, and stores nothing. A
problem names a row and a column, never the value found there: the value may be personal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Never list more problems than this in one answer; the detail says how many there were.
MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request. ``row`` counts like a spreadsheet: the header is row 1."""

    message: str
    row: int | None = None  # the first row, for a group
    column: str | None = None
    rows: str | None = None  # a group's rows as ranges ("2-46, 50"); None for a single row
    count: int | None = None  # how many values the group holds

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"row": self.row, "column": self.column, "message": self.message}
        if self.count is not None and self.count > 1:
            found |= {"rows": self.rows, "count": self.count}
        return found

    def __str__(self) -> str:
        where = f"rows {self.rows}" if self.rows else f"row {self.row}" if self.row is not None else self.column
        return f"{where}: {self.message}" if where else self.message


@dataclass
class Rejected(Exception):
    """A request that cannot be served as asked (an invalid upload, an unknown course, ...). Nothing is stored."""

    status: int
    error: str
    detail: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.detail)
        self.problems = self.problems[:MAX_PROBLEMS]

    def as_dict(self) -> dict[str, object]:
        return {"error": self.error, "detail": self.detail, "problems": [p.as_dict() for p in self.problems]}


class NotFound(Rejected):
    """What the request names does not exist (yet)."""

    def __init__(self, detail: str, error: str = "not_found") -> None:
        super().__init__(404, error, detail)


def field_problem(error: Mapping[str, Any], field: str | None) -> Problem:
    """A request-validation error (pydantic's dict) in plain words naming the field; pydantic's own texts
    ("Input should be a valid integer, unable to parse string as an integer", "Value error, ...") never reach
    the answer, and neither does the value sent."""
    kind, ctx = str(error.get("type", "")), error.get("ctx") or {}
    name = field or "the request"
    if kind == "missing":
        return Problem(f"{name} is required", None, field)
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return Problem(str(ctx["error"]), None, field)  # our own validators' words
    bounds = {
        "greater_than": "above",
        "greater_than_equal": "at least",
        "less_than": "below",
        "less_than_equal": "at most",
    }
    for pydantic_kind, words in bounds.items():
        if kind == pydantic_kind:
            limit = next(iter(ctx.values()), "")
            return Problem(f"{name} must be {words} {limit}", None, field)
    texts = {
        "string_too_long": f"{name} is too long (at most {ctx.get('max_length')} characters)",
        "string_too_short": f"{name} is too short (at least {ctx.get('min_length')} characters)",
        "string_pattern_mismatch": f"{name} is not in the expected form",
        "literal_error": f"{name} must be one of: {ctx.get('expected', '')}".replace("'", ""),
        "enum": f"{name} must be one of: {ctx.get('expected', '')}".replace("'", ""),
        "json_invalid": "the body is not valid JSON",
        "model_attributes_type": "the body must be a JSON object",
        "dict_type": f"{name} must be a JSON object",
        "list_type": f"{name} must be a list",
    }
    if kind in texts:
        return Problem(texts[kind], None, field)
    for suffix, what in (
        ("int", "a whole number"),
        ("float", "a number"),
        ("bool", "true or false"),
        ("date", "a date (YYYY-MM-DD)"),
        ("datetime", "a date and time (ISO 8601)"),
        ("string", "text"),
    ):
        if kind.startswith((f"{suffix}_", f"{suffix}_type")) or kind == f"{suffix}_parsing":
            return Problem(f"{name} must be {what}", None, field)
    return Problem(f"{name} is not valid", None, field)
