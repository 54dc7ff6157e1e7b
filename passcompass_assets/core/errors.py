"""Rejections that carry what is wrong and where; the API turns them into 4xx JSON answers."""

from __future__ import annotations

from dataclasses import dataclass, field

# Never list more problems than this in one answer; the detail says how many there were.
MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an upload. ``row`` counts like a spreadsheet: the header is row 1."""

    message: str
    row: int | None = None
    column: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class UploadRejected(Exception):
    """An upload that cannot be accepted. Nothing of it is stored."""

    status: int
    error: str
    detail: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.detail)
        self.problems = self.problems[:MAX_PROBLEMS]

    def as_dict(self) -> dict[str, object]:
        return {"error": self.error, "detail": self.detail, "problems": [p.as_dict() for p in self.problems]}
