"""Every problem of a file, found in one pass and answered grouped: one line per column and message, with its
rows as ranges and a count ("rows 2-656: FinalGrade above 20, ..."), sorted by row.

A data officer fixes a file once per answer: an answer that lists only the first problem found, or the same
line 100 times, makes them upload again and again. Problems name rows and columns (as the file spells them),
never the values found there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from passcompass_assets.core.errors import MAX_PROBLEMS, Problem, Rejected

# A group's rows beyond this many ranges are summarised ("and 12 more rows").
MAX_RANGES = 8
# The detail quotes this many groups; the problems list has them all.
DETAIL_GROUPS = 3


def row_ranges(rows: np.ndarray) -> str:
    """Sorted spreadsheet row numbers as ranges: ``2-46, 50, 60-61``."""
    if rows.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(rows) != 1)
    starts = np.concatenate(([rows[0]], rows[breaks + 1]))
    ends = np.concatenate((rows[breaks], [rows[-1]]))
    shown = [f"{a}-{b}" if b > a else f"{a}" for a, b in zip(starts[:MAX_RANGES], ends[:MAX_RANGES], strict=True)]
    if len(starts) > MAX_RANGES:
        rest = int(np.sum(ends[MAX_RANGES:] - starts[MAX_RANGES:] + 1))
        shown.append(f"and {rest} more row{'s' if rest > 1 else ''}")
    return ", ".join(shown)


class FileProblems:
    """What is wrong with one file. Rows are collected as arrays (a million bad cells stay cheap); the answer
    groups them by (column, message)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str | None, str], list[np.ndarray]] = {}
        self._single: list[Problem] = []
        self._errors: set[str] = set()  # the error codes of the file's own problems

    def add_where(
        self, mask: np.ndarray, column: str | None, message: str, error: str = "invalid_values", first_row: int = 2
    ) -> None:
        """A problem on every data row where ``mask`` holds (position 0 is spreadsheet row ``first_row``: 2, below
        the header, unless the file is read in chunks); ``error`` is the answer's code when the file has no other
        kind of problem."""
        if mask.any():
            self._rows.setdefault((column, message), []).append(np.flatnonzero(mask) + first_row)
            self._errors.add(error)

    def check_ids(
        self,
        frame: pd.DataFrame,
        columns: list[str],
        max_length: int,
        *,
        first_row: int = 2,
        among: pd.Series | None = None,
        label: str = "",
    ) -> pd.Series:
        """Rows whose ids (the text columns ``columns``, stripped in place) are present and at most ``max_length``
        characters; the others, among the rows ``among`` selects (all by default), are problems of the column
        (named ``label`` + its name)."""
        among = pd.Series(True, index=frame.index) if among is None else among
        good = pd.Series(True, index=frame.index)
        for column in columns:
            values = frame[column].fillna("").str.strip()
            blank, long = values == "", values.str.len() > max_length
            shown = f"{label}{column}"
            self.add_where((among & blank).to_numpy(), shown, f"{column} is missing", first_row=first_row)
            too_long = f"{column} is longer than {max_length} characters"
            self.add_where((among & long).to_numpy(), shown, too_long, first_row=first_row)
            frame[column] = values
            good &= ~blank & ~long
        return good

    def add(self, problem: Problem, error: str = "invalid_values") -> None:
        """A problem of the file or of a form field (the header, a period that is not declared, ...); ``error`` is
        the answer's code when the file has no other kind of problem."""
        self._single.append(problem)
        self._errors.add(error)

    def extend(self, other: FileProblems) -> None:
        for key, parts in other._rows.items():
            self._rows.setdefault(key, []).extend(parts)
        self._single.extend(other._single)
        self._errors |= other._errors

    def __bool__(self) -> bool:
        return bool(self._rows or self._single)

    @property
    def values(self) -> int:
        """How many values (cells, fields) are wrong in all."""
        return sum(len(p) for parts in self._rows.values() for p in parts) + len(self._single)

    def grouped(self) -> list[Problem]:
        """One problem per column and message, the file's problems (row 1 or none) first, then by first row."""
        found = list(self._single)
        for (column, message), parts in self._rows.items():
            rows = np.unique(np.concatenate(parts))
            single = rows.size == 1
            found.append(Problem(message, int(rows[0]), column, None if single else row_ranges(rows), int(rows.size)))
        return sorted(found, key=lambda p: (p.row or 0, p.column or "", p.message))

    def rejected(self) -> Rejected:
        """The answer: every problem, grouped; ``invalid_values`` unless all are of one other kind."""
        error = next(iter(self._errors)) if len(self._errors) == 1 else "invalid_values"
        groups = self.grouped()
        quoted = "; ".join(str(p) for p in groups[:DETAIL_GROUPS])
        more = f" (and {len(groups) - DETAIL_GROUPS} more: see problems)" if len(groups) > DETAIL_GROUPS else ""
        listed = "" if len(groups) <= MAX_PROBLEMS else f"; the first {MAX_PROBLEMS} are listed"
        count = self.values
        detail = f"{count} value{'s' if count > 1 else ''} to fix, in {len(groups)} group(s){listed}: {quoted}{more}"
        return Rejected(422, error, detail, groups)
