"""Database errors without the values they may quote.

SQLAlchemy's ``hide_parameters`` keeps a statement's parameters out of its error messages; the driver's own
message can still quote values (PostgreSQL: ``DETAIL: Key (user_id)=(s1) already exists``, ``invalid input
syntax for type integer: "abc"``, a COPY's ``CONTEXT`` line). :func:`redact_driver_message` keeps the first line
of it with quoted values masked (a quoted name after ``constraint``, ``column``, ``relation`` ... is kept: names
of the schema are not personal), and drops DETAIL, HINT, CONTEXT and the statement excerpt.
"""

from __future__ import annotations

import re

MASK = "[value hidden]"
_NAMES = r"(?:constraint|column|relation|table|index|type|function|schema|database|role|sequence|view|operator|key)"
_QUOTED = re.compile(r'(?P<before>\b\w+\s+)?(?P<q>"[^"]*"|\'[^\']*\')')


def redact_driver_message(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""

    def mask(match: re.Match[str]) -> str:
        before = match.group("before") or ""
        if re.fullmatch(_NAMES + r"\s+", before, flags=re.IGNORECASE):
            return match.group(0)
        return before + MASK

    return _QUOTED.sub(mask, first).strip()


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of an exception, safe to store and show: a driver's message redacted as above."""
    text = str(exc)
    module = type(exc).__module__.split(".")[0]
    if module in {"psycopg2", "psycopg", "sqlite3", "sqlalchemy"}:
        text = redact_driver_message(text)
    return f"{type(exc).__name__}: {text}"
