"""Requests the platform refuses, with what is wrong and where; the API answers them as 4xx JSON.

Every refusal has one shape, ``{error, detail, problems: [{row, column, message}]}``, and stores nothing. A
problem names a row and a column, never the value found there: the value may be personal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Never list more problems than this in one answer; the detail says how many there were.
MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request. ``row`` counts like a spreadsheet: the header is row 1."""

    message: str
    row: int | None = None
    column: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}


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
