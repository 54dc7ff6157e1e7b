"""A roster received: its terms declared as periods, its classes as courses, its student enrolments as an upload of
the course's students (active, or withdrawn from a date), which the upload sensor applies like any other. A dry
run answers what would change and stores nothing.

A term already declared keeps its cadence; a course already set up keeps its scale (a new one gets the default
scale, unconfirmed, for a data officer to set). Nothing is deleted: a term or class marked ``tobedeleted`` is
left as it is (its data may hold reports), and a student's deleted enrolment is a withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.engine import Engine

from passcompass_assets.core.courses import ensure_course, get_course
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.pseudonyms import stored_user_id
from passcompass_assets.core.ingest.uploads import UploadPolicy
from passcompass_assets.core.periods import Period, find_period, upsert_period
from passcompass_assets.core.records import records_of_courses
from passcompass_assets.core.rosters.oneroster import Roster, read_oneroster


@dataclass(frozen=True)
class ClassChange:
    """A class's students: new to the course, withdrawn by this roster, and as they were."""

    course_id: str
    period_id: str
    new: int
    withdrawn: int
    unchanged: int


@dataclass
class RosterOutcome:
    version: str
    stored: bool  # False for a dry run
    new_periods: list[str] = field(default_factory=list)
    changed_periods: list[str] = field(default_factory=list)  # dates changed
    new_courses: list[str] = field(default_factory=list)  # "course|period"
    renamed_courses: list[str] = field(default_factory=list)
    classes: list[ClassChange] = field(default_factory=list)
    upload_id: str | None = None  # the students' upload, applied by the upload sensor
    warnings: list[str] = field(default_factory=list)


def receive_roster(
    engine: Engine,
    store: LandingStore,
    policy: UploadPolicy,
    content: bytes,
    *,
    today: date,
    pass_mark: float,
    dry_run: bool = False,
) -> RosterOutcome:
    """Read a OneRoster zip and (unless ``dry_run``) declare its terms and classes (a new course on the default
    scale: ``policy.default_grade_max`` and ``pass_mark``) and receive its students."""
    roster = read_oneroster(content, today=today)
    outcome = RosterOutcome(roster.version, stored=not dry_run, warnings=list(roster.warnings))
    if roster.deleted_terms:
        outcome.warnings.append(f"{len(roster.deleted_terms)} term(s) marked tobedeleted were left as they are")
    periods = _compare_terms(engine, roster, outcome)
    _compare_classes(engine, roster, outcome)
    outcome.classes = _class_changes(engine, roster, policy.pseudonym_key)
    if dry_run:
        return outcome
    for period in periods:
        upsert_period(engine, period)
    for roster_class in roster.classes:
        ensure_course(engine, roster_class.course_id, roster_class.period_id, policy.default_grade_max, pass_mark,
                      roster_class.title or None)  # fmt: skip
    if not roster.enrolments.empty:
        students = roster.enrolments.assign(as_of_date=today.isoformat())
        receipt = policy.receive(engine, store, students.to_csv(index=False).encode(), kind="students", source="roster")
        outcome.upload_id = receipt.duplicate_of or receipt.upload_id
        outcome.warnings += receipt.warnings
    return outcome


def _compare_terms(engine: Engine, roster: Roster, outcome: RosterOutcome) -> list[Period]:
    """The periods to declare (new, or dates changed), noted in ``outcome``."""
    declare = []
    for term in roster.terms:
        before = find_period(engine, term.period_id)
        if before is not None and (before.start_date, before.end_date) == (term.start_date, term.end_date):
            continue
        (outcome.new_periods if before is None else outcome.changed_periods).append(term.period_id)
        cadence = before.cadence_weeks if before is not None else 3
        declare.append(Period(term.period_id, term.start_date, term.end_date, cadence))
    return declare


def _compare_classes(engine: Engine, roster: Roster, outcome: RosterOutcome) -> None:
    for roster_class in roster.classes:
        before = get_course(engine, roster_class.course_id, roster_class.period_id)
        key = f"{roster_class.course_id}|{roster_class.period_id}"
        if before is None:
            outcome.new_courses.append(key)
        elif roster_class.title and before.title != roster_class.title:
            outcome.renamed_courses.append(key)


def _class_changes(engine: Engine, roster: Roster, key: str | None) -> list[ClassChange]:
    enrolments = roster.enrolments.assign(user_id=roster.enrolments["user_id"].map(lambda u: stored_user_id(u, key)))
    if enrolments.empty:
        return []
    current = records_of_courses(engine, sorted(enrolments["course_id"].unique()),
                                 sorted(enrolments["period_id"].unique()))  # fmt: skip
    known = current[["user_id", "course_id", "period_id", "enrolment_status"]].rename(
        columns={"enrolment_status": "status_before"}
    )
    merged = enrolments.merge(known, on=["user_id", "course_id", "period_id"], how="left", indicator=True)
    merged["new"] = merged["_merge"] == "left_only"
    merged["withdrawn"] = ~merged["new"] & (merged["enrolment_status"] == "withdrawn")
    merged["withdrawn"] &= merged["status_before"].astype(object) != "withdrawn"
    changes = []
    for (course_id, period_id), rows in merged.groupby(["course_id", "period_id"], sort=True):
        new, withdrawn = int(rows["new"].sum()), int(rows["withdrawn"].sum())
        changes.append(ClassChange(str(course_id), str(period_id), new, withdrawn, len(rows) - new - withdrawn))
    return changes
