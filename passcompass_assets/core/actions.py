"""Actions staff record on a student's flag: who took them (a principal's id) and when, with an optional note.

The kinds are of two sorts: help given (``contacted``, ``tutoring_offered``, ``meeting_held``, ``referred``) and
feedback on the flag itself (``acknowledged``, ``not_useful``, ``incorrectly_flagged``). A note is free text for
staff: it is stored and shown to staff here, and nothing else reads it (:func:`action_frame`, which the
evaluation uses, leaves it out; no log line or access-log entry carries it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, get_args

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import reports, student_actions
from passcompass_assets.core.db.timestamps import utc

ActionKind = Literal[
    "contacted", "tutoring_offered", "meeting_held", "referred", "acknowledged", "not_useful", "incorrectly_flagged"
]
KINDS: Final[tuple[ActionKind, ...]] = get_args(ActionKind)
HELP_KINDS: Final[tuple[ActionKind, ...]] = ("contacted", "tutoring_offered", "meeting_held", "referred")
FEEDBACK_KINDS: Final[tuple[ActionKind, ...]] = ("acknowledged", "not_useful", "incorrectly_flagged")
LABELS: Final[dict[str, str]] = {
    "contacted": "contacted",
    "tutoring_offered": "tutoring offered",
    "meeting_held": "meeting held",
    "referred": "referred",
    "acknowledged": "flag acknowledged",
    "not_useful": "flag not useful",
    "incorrectly_flagged": "incorrectly flagged",
}
NOTE_MAX: Final = 2000


@dataclass(frozen=True)
class Action:
    action_id: str
    course_id: str
    period_id: str
    user_id: str
    kind: str
    note: str | None
    actor: str  # the principal's id ("token:<id>", "oidc:<subject>"), as the access log names it
    recorded_at: datetime
    report_id: str | None  # the course's latest report when it was recorded

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class ActionSummary:
    """What was done for one student so far: how many actions, and the latest."""

    count: int
    last_kind: str
    last_at: datetime

    @property
    def last_label(self) -> str:
        return LABELS.get(self.last_kind, self.last_kind)


def parse_kind(value: str) -> ActionKind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown action kind: one of {', '.join(KINDS)}")


def _latest_report_id(conn: sa.Connection, course_id: str, period_id: str) -> str | None:
    query = (
        sa.select(reports.c.report_id)
        .where(reports.c.course_id == course_id, reports.c.period_id == period_id)
        .order_by(reports.c.report_date.desc(), reports.c.generated_at.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()


def record_action(
    engine: Engine,
    *,
    course_id: str,
    period_id: str,
    user_id: str,
    kind: str,
    actor: str,
    note: str | None = None,
    at: datetime | None = None,
) -> Action:
    """Store one action; ``actor`` is who took it (a principal's id), ``at`` when (default now)."""
    checked = parse_kind(kind)
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ValueError(f"a note has at most {NOTE_MAX} characters")
    when = at or datetime.now(UTC)
    action_id = str(uuid.uuid4())
    with engine.begin() as conn:
        report_id = _latest_report_id(conn, course_id, period_id)
        conn.execute(
            student_actions.insert().values(
                action_id=action_id,
                user_id=user_id,
                course_id=course_id,
                period_id=period_id,
                kind=checked,
                note=note,
                actor=actor[:200],
                recorded_at=when,
                report_id=report_id,
            )
        )
    return Action(action_id, course_id, period_id, user_id, checked, note, actor[:200], when, report_id)


def _action(row: sa.Row) -> Action:
    return Action(
        row.action_id,
        row.course_id,
        row.period_id,
        row.user_id,
        row.kind,
        row.note,
        row.actor,
        utc(row.recorded_at) or datetime.now(UTC),
        row.report_id,
    )


def list_actions(
    engine: Engine, course_id: str, period_id: str | None = None, user_id: str | None = None
) -> list[Action]:
    """A course's actions (of one period, of one student), oldest first."""
    query = sa.select(student_actions).where(student_actions.c.course_id == course_id)
    if period_id is not None:
        query = query.where(student_actions.c.period_id == period_id)
    if user_id is not None:
        query = query.where(student_actions.c.user_id == user_id)
    query = query.order_by(student_actions.c.recorded_at, student_actions.c.action_id)
    with engine.connect() as conn:
        return [_action(row) for row in conn.execute(query)]


def summaries(engine: Engine, course_id: str, period_id: str, user_ids: Iterable[str]) -> dict[str, ActionSummary]:
    """Per student of ``user_ids`` with any action in the course's period: the count and the latest action."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    c = student_actions.c
    query = (
        sa.select(c.user_id, c.kind, c.recorded_at)
        .where(c.course_id == course_id, c.period_id == period_id, c.user_id.in_(wanted))
        .order_by(c.recorded_at, c.action_id)
    )
    out: dict[str, ActionSummary] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            before = out.get(row.user_id)
            at = utc(row.recorded_at) or datetime.now(UTC)
            out[row.user_id] = ActionSummary((before.count if before else 0) + 1, row.kind, at)
    return out


def action_frame(engine: Engine, course_id: str, period_id: str) -> pd.DataFrame:
    """user_id, kind, recorded_at (UTC) of every action of the course's period: never the note."""
    c = student_actions.c
    query = sa.select(c.user_id, c.kind, c.recorded_at).where(c.course_id == course_id, c.period_id == period_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["user_id", "kind", "recorded_at"])
    frame["user_id"] = frame["user_id"].astype(str)
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True)
    return frame
