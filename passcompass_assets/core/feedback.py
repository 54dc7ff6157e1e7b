"""The feedback loop's ledger: which final grades the last evaluation of each course and the last training saw.

Final grades arrive as uploads. A course period needs evaluating when a processed upload newer than its last
evaluation carries its grades (and it has reports to evaluate); the model needs retraining when any such upload
is newer than the last training, once uploads have been quiet for a while (one retrain per batch of files, not
one per file). Successful runs record how far they got, so nothing is done twice and nothing is missed, whatever
happened to the runs in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import feedback_state
from passcompass_assets.core.ingest.uploads import Upload, processed_since
from passcompass_assets.core.keys import CoursePeriod
from passcompass_assets.core.reports.store import reported_course_periods

TRAIN = "train"


def evaluation_scope(course_id: str, period_id: str) -> str:
    return f"evaluate:{CoursePeriod(course_id, period_id).key}"


@dataclass(frozen=True)
class DueEvaluation:
    course_id: str
    period_id: str
    through_seq: int  # the newest final-grades upload it must take into account


def _through(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {row.scope: row.through_seq for row in conn.execute(sa.select(feedback_state))}


def _grade_uploads(engine: Engine) -> list[Upload]:
    return [u for u in processed_since(engine, None) if u.carries_final_grades]


def latest_grades_seq(engine: Engine, course_id: str | None = None, period_id: str | None = None) -> int:
    """Arrival number of the newest processed upload with final grades (of that course period); 0 when none."""
    seqs = [
        u.seq
        for u in _grade_uploads(engine)
        if course_id is None or (course_id in u.course_ids and period_id in u.period_ids)
    ]
    return max(seqs, default=0)


def due_evaluations(engine: Engine) -> list[DueEvaluation]:
    """Course periods with reports whose final grades changed since their last evaluation."""
    through, reported = _through(engine), reported_course_periods(engine)
    newest: dict[tuple[str, str], int] = {}
    for upload in _grade_uploads(engine):
        for pair in ((c, p) for c in upload.course_ids for p in upload.period_ids):
            if pair in reported:
                newest[pair] = max(newest.get(pair, 0), upload.seq)
    return [
        DueEvaluation(course_id, period_id, seq)
        for (course_id, period_id), seq in sorted(newest.items())
        if seq > through.get(evaluation_scope(course_id, period_id), 0)
    ]


def due_training(engine: Engine, quiet: timedelta, now: datetime | None = None) -> int | None:
    """The arrival number a retraining must take into account, when final grades arrived since the last one
    and none in the last ``quiet``; else None."""
    uploads = _grade_uploads(engine)
    newest = max(uploads, key=lambda u: u.seq, default=None)
    if newest is None or newest.seq <= _through(engine).get(TRAIN, 0):
        return None
    processed = newest.processed_at
    now = now or datetime.now(UTC)
    if processed is not None and _aware(processed) > now - quiet:
        return None
    return newest.seq


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record(engine: Engine, scope: str, through_seq: int) -> None:
    """A successful training or evaluation took final grades up to ``through_seq`` into account."""
    values = {"scope": scope, "through_seq": through_seq, "updated_at": datetime.now(UTC)}
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(feedback_state).values(**values)
        # Never backwards: a slow, older run finishing last does not undo a newer one's record.
        larger = sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max
        newer = larger(feedback_state.c.through_seq, statement.excluded.through_seq)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["scope"], set_={"through_seq": newer, "updated_at": values["updated_at"]}
            )
        )
