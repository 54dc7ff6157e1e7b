"""How right were the reports? Once final grades arrive, score every report of a course's period against them.

Per report: accuracy, ROC AUC and Brier score of the fail probability, precision and recall of the high-risk band
against actual failures, RMSE of the predicted grade. Lead time: for each student who failed, the first report that
flagged them high risk, in weeks before the period's end. Did help help: the actions staff recorded beside the
outcomes of the flagged students, descriptive only (core/reports/helped.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.metrics import accuracy_score, brier_score_loss, precision_score, recall_score, roc_auc_score
from sqlalchemy.engine import Engine

from passcompass_assets.core.actions import action_frame
from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.courses import get_course
from passcompass_assets.core.db.tables import courses, final_grades
from passcompass_assets.core.ml.fairness import FairnessAudit, audit
from passcompass_assets.core.ml.features import fail_label
from passcompass_assets.core.ml.own_students import expected_calibration_error
from passcompass_assets.core.records import course_snapshot
from passcompass_assets.core.reports.helped import HelpAnalysis, did_help_help
from passcompass_assets.core.reports.render import templates
from passcompass_assets.core.reports.store import ReportRecord, list_reports, one_per_date


@dataclass(frozen=True)
class ReportOutcome:
    """One report against the final grades of its students."""

    report_id: str
    report_date: str
    report_number: int
    week_of_term: int
    model_version: str | None
    weeks_before_end: float | None
    students: int
    failed: int
    accuracy: float
    roc_auc: float | None  # None when every student passed (or every one failed)
    brier: float
    ece: float  # expected calibration error (10 bins): how far the probabilities are from the fail rates
    high_risk_precision: float
    high_risk_recall: float | None  # None when nobody failed
    grade_rmse: float


@dataclass(frozen=True)
class LeadTime:
    failed_students: int
    flagged_before_end: int
    share_flagged: float | None
    median_weeks_before_end: float | None
    first_flags: dict[str, str] = field(default_factory=dict)  # user_id -> date of the first high-risk report


@dataclass(frozen=True)
class Evaluation:
    course_id: str
    period_id: str
    evaluated_at: str
    students_with_final_grade: int
    failure_rate: float
    reports: list[ReportOutcome]
    lead_time: LeadTime
    withdrawals: str = ""  # how withdrawn students were counted
    fairness: FairnessAudit | None = None  # the disaggregated analysis on the real outcomes
    help: HelpAnalysis | None = None  # the actions staff recorded beside the outcomes (descriptive, not causal)
    course_title: str | None = None  # what the pages call the course

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class OutcomePolicy:
    """How to judge the reports: withdrawals, the high band, and the fairness audit's settings."""

    withdrawals_count_as_failed: bool = True
    high_risk: float = 0.5
    min_group: int = 20
    abroca_threshold: float = 0.1
    recall_gap_threshold: float = 0.2


def _with_withdrawals(labels: pd.DataFrame, state: pd.DataFrame, count_as_failed: bool) -> tuple[pd.DataFrame, str]:
    """Withdrawn students (at the period's end) count as not passing (with or without a final grade), or are
    left out of the evaluation; which one, in words."""
    if "enrolment_status" not in state:
        return labels, "no student withdrew"
    withdrawn = state.loc[state["enrolment_status"].astype(object) == "withdrawn", "user_id"].astype(str)
    if withdrawn.empty:
        return labels, "no student withdrew"
    if not count_as_failed:
        kept = labels[~labels["user_id"].isin(withdrawn)]
        return kept, f"{len(withdrawn)} withdrawn student(s) left out of the evaluation"
    extra = pd.DataFrame({"user_id": withdrawn[~withdrawn.isin(labels["user_id"])]})
    labels = pd.concat([labels, extra.assign(final_grade=np.nan, failed=True)], ignore_index=True)
    labels.loc[labels["user_id"].isin(withdrawn), "failed"] = True
    return labels, f"{len(withdrawn)} withdrawn student(s) counted as not passing"


def _labels(engine: Engine, course_id: str, period_id: str) -> pd.DataFrame:
    query = (
        sa.select(final_grades.c.user_id, final_grades.c.final_grade, courses.c.pass_mark)
        .join(
            courses,
            sa.and_(courses.c.course_id == final_grades.c.course_id, courses.c.period_id == final_grades.c.period_id),
        )
        .where(final_grades.c.course_id == course_id, final_grades.c.period_id == period_id)
    )
    with engine.connect() as conn:
        labels = pd.read_sql(query, conn)
    labels["failed"] = fail_label(labels).astype(bool)
    return labels


def _outcome(record: ReportRecord, joined: pd.DataFrame, end: date | None) -> ReportOutcome:
    """The report's students (with their final grades) scored against what happened."""
    y = joined["failed"].to_numpy(dtype=int)
    p = joined["fail_probability"].to_numpy(dtype=float)
    flagged = (joined["risk_band"] == "high").to_numpy(dtype=int)
    grade_error = (joined["predicted_final_grade"] - joined["final_grade"]).to_numpy(dtype=float)
    return ReportOutcome(
        report_id=record.report_id,
        report_date=record.report_date.isoformat(),
        report_number=record.report_number,
        week_of_term=record.week_of_term,
        model_version=record.model_version,
        weeks_before_end=round((end - record.report_date).days / 7, 1) if end else None,
        students=len(joined),
        failed=int(y.sum()),
        accuracy=round(float(accuracy_score(y, p >= 0.5)), 4),
        roc_auc=round(float(roc_auc_score(y, p)), 4) if len(set(y)) == 2 else None,
        brier=round(float(brier_score_loss(y, p, labels=[0, 1])), 4),
        ece=expected_calibration_error(y, p),
        high_risk_precision=round(float(precision_score(y, flagged, zero_division=0)), 4),
        high_risk_recall=round(float(recall_score(y, flagged, zero_division=0)), 4) if y.sum() else None,
        grade_rmse=round(math.sqrt(float(np.mean(grade_error**2))), 3),
    )


def evaluate_period(
    engine: Engine,
    reports_dir: Path,
    course_id: str,
    period_id: str,
    period_end: date | None = None,
    policy: OutcomePolicy | None = None,
) -> Evaluation:
    """The evaluation of every report of ``course_id`` in ``period_id`` against its final grades, with the
    disaggregated analysis by the catalog's audit columns."""
    policy = policy or OutcomePolicy()
    labels = _labels(engine, course_id, period_id)
    # One report per date (a store from before that rule may hold more: the newest counts).
    records = sorted(one_per_date(list_reports(engine, course_id, period_id)), key=lambda r: r.report_date)
    if labels.empty:
        raise ValueError(f"no final grades for course {course_id!r} in period {period_id!r}")
    end = period_end or max((r.report_date for r in records), default=None)
    state = course_snapshot(engine, course_id, period_id, end or date.max)
    labels, withdrawals = _with_withdrawals(labels, state, policy.withdrawals_count_as_failed)
    outcomes = []
    first_flag: dict[str, date] = {}
    judged: list[pd.DataFrame] = []
    for record in records:
        students = pd.DataFrame(json.loads(record.file(reports_dir, "json").read_text())["rows"])
        joined = students.merge(labels, on="user_id", how="inner")
        # A student the report had too little data on got no probability: nothing to judge.
        joined = joined[pd.to_numeric(joined["fail_probability"], errors="coerce").notna()]
        if joined.empty:
            continue
        judged.append(joined.assign(report_date=record.report_date))
        for user_id in joined.loc[joined["failed"] & (joined["risk_band"] == "high"), "user_id"]:
            first_flag.setdefault(user_id, record.report_date)
        outcomes.append(_outcome(record, joined, end))
    failed_ids = labels.loc[labels["failed"], "user_id"].tolist()
    lead_weeks = [(end - first_flag[u]).days / 7 for u in failed_ids if u in first_flag] if end else []
    lead_time = LeadTime(
        failed_students=len(failed_ids),
        flagged_before_end=len(lead_weeks),
        share_flagged=round(len(lead_weeks) / len(failed_ids), 4) if failed_ids else None,
        median_weeks_before_end=round(float(np.median(lead_weeks)), 1) if lead_weeks else None,
        first_flags={u: first_flag[u].isoformat() for u in failed_ids if u in first_flag},
    )
    return Evaluation(
        course_id=course_id,
        period_id=period_id,
        evaluated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        students_with_final_grade=int(labels["final_grade"].notna().sum()),
        failure_rate=round(float(labels["failed"].mean()), 4),
        reports=outcomes,
        lead_time=lead_time,
        withdrawals=withdrawals,
        fairness=_fairness(judged, state, policy),
        help=_helped(engine, course_id, period_id, judged, policy),
        course_title=course.title if (course := get_course(engine, course_id, period_id)) else None,
    )


def _helped(
    engine: Engine, course_id: str, period_id: str, judged: list[pd.DataFrame], policy: OutcomePolicy
) -> HelpAnalysis | None:
    if not judged:
        return None
    rows = pd.concat(judged, ignore_index=True)
    return did_help_help(rows, action_frame(engine, course_id, period_id), policy.min_group)


def _fairness(judged: list[pd.DataFrame], state: pd.DataFrame, policy: OutcomePolicy) -> FairnessAudit | None:
    """The reports' rows of the period, pooled, with the real outcomes and the students' audit columns."""
    attributes = [c.name for c in load_catalog().audit if c.name in state.columns]
    if not judged or not attributes:
        return None
    rows = pd.concat(judged, ignore_index=True)
    rows["fail"] = rows["failed"].astype(int)
    rows["probability"] = rows["fail_probability"].astype(float)
    rows = rows.merge(state[["user_id", *attributes]], on="user_id", how="left")
    rows["student"] = rows["user_id"].astype(str)
    return audit(
        rows,
        attributes,
        high_risk=policy.high_risk,
        min_group=policy.min_group,
        abroca_threshold=policy.abroca_threshold,
        recall_gap_threshold=policy.recall_gap_threshold,
    )


def evaluation_key(course_id: str, period_id: str) -> str:
    """The folder of a course period's evaluation: a hash of the exact ids, so no two course periods share one
    (folding characters did: ``sec.eval`` and ``sec_eval``, ``a``/``b__c`` and ``a__b``/``c``)."""
    return hashlib.sha256(json.dumps([course_id, period_id]).encode()).hexdigest()[:40]


def evaluation_file_stem(course_id: str, period_id: str) -> str:
    """A readable name for a download (characters folded to ``_``): a name, never a key."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{course_id}__{period_id}")


def _legacy_folder(reports_dir: Path, course_id: str, period_id: str) -> Path:
    """Where versions before the hashed key kept it: the folded name, which look-alike ids share."""
    return reports_dir / "evaluations" / evaluation_file_stem(course_id, period_id)


def _paths(folder: Path) -> dict[str, Path]:
    return {"json": folder / "evaluation.json", "html": folder / "evaluation.html"}


def evaluation_paths(reports_dir: Path, course_id: str, period_id: str) -> dict[str, Path]:
    """Where the evaluation of a course period is stored (JSON and HTML)."""
    return _paths(reports_dir / "evaluations" / evaluation_key(course_id, period_id))


def _names(path: Path, course_id: str, period_id: str) -> bool:
    """Whether the evaluation JSON at ``path`` is the one of this course period."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(values, dict) and (values.get("course_id"), values.get("period_id")) == (course_id, period_id)


def find_evaluation(reports_dir: Path, course_id: str, period_id: str) -> dict[str, Path] | None:
    """The stored evaluation of exactly this course period, or None. The course and period inside the file are
    checked: a file in an earlier version's folded folder may be a look-alike course's."""
    for paths in (
        evaluation_paths(reports_dir, course_id, period_id),
        _paths(_legacy_folder(reports_dir, course_id, period_id)),
    ):
        if _names(paths["json"], course_id, period_id):
            return paths
    return None


def store_evaluation(reports_dir: Path, evaluation: Evaluation) -> dict[str, Path]:
    """Write the evaluation as JSON and as an HTML page with a chart (replacing an earlier evaluation, also one an
    earlier version kept in its folded folder)."""
    paths = evaluation_paths(reports_dir, evaluation.course_id, evaluation.period_id)
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    values = evaluation.as_dict()
    paths["json"].write_text(json.dumps(values, indent=1), encoding="utf-8")
    html = templates.get_template("evaluation.html").render(evaluation=values, reports=values["reports"])
    paths["html"].write_text(html, encoding="utf-8")
    legacy = _legacy_folder(reports_dir, evaluation.course_id, evaluation.period_id)
    if _names(legacy / "evaluation.json", evaluation.course_id, evaluation.period_id):
        shutil.rmtree(legacy)  # the old copy may still name students this one no longer does (an erasure)
    return paths
