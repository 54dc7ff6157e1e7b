"""Make a batch of course reports in one process: the model is loaded once by the caller, each course stands alone.

Per course: its students as known on the report date are read once, for the drift against its past students and
for the report; the report is stored, the ledger marked, the instructors told. A course that fails (a corrupt
record, no students left) is marked failed with the reason and the batch goes on; a failure no course can escape
(no model, the database gone) ends the batch, so its run fails and is retried whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.drift import DriftSummary, course_drift
from passcompass_assets.core.notify import notify_report_ready
from passcompass_assets.core.records import scoring_rows
from passcompass_assets.core.reports.service import NoModelError, ScoringModel, generate_report, report_period
from passcompass_assets.core.reports.store import ReportRecord, report_for_work
from passcompass_assets.core.reports.tasks import ReportTask, mark_done, mark_failed
from passcompass_assets.core.retry import RetryPolicy
from passcompass_assets.core.settings import Settings

SYSTEMIC = (NoModelError, OperationalError)
MAX_ERROR = 1000  # characters of a failure's message kept in the ledger


@dataclass(frozen=True)
class CourseOutcome:
    task: ReportTask
    report: ReportRecord | None = None
    drift: DriftSummary | None = None
    notified: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    given_up: bool = False  # the failure was the course's last attempt


def make_course_report(
    engine: Engine, settings: Settings, model: ScoringModel | None, task: ReportTask
) -> tuple[ReportRecord, DriftSummary | None]:
    """One course's drift and report for its task's date (what a run of one course used to make); the report
    already made for the task (a relaunched batch), without drift, when there is one."""
    if (made := report_for_work(engine, task.work_key)) is not None:
        return made, None
    period = report_period(engine, task.period_id, task.course_id, task.report_date)
    rows = scoring_rows(engine, task.course_id, period, task.report_date)
    drift = course_drift(
        engine,
        settings.reports_dir,
        task.course_id,
        period,
        task.report_date,
        settings.drift_share_threshold,
        current=rows,
    )
    if drift.flagged:
        send_alert(
            settings.alert_webhook_url,
            "drift",
            f"{task.course_id} ({task.period_id}) on {task.report_date}: {drift.summary}",
            course_id=task.course_id,
            period_id=task.period_id,
        )
    report = generate_report(
        engine,
        settings,
        model,
        task.course_id,
        task.period_id,
        task.report_date,
        drift.as_dict(),
        work_key=task.work_key,
        rows=rows,
    )
    return report, drift


def make_reports(
    engine: Engine, settings: Settings, model: ScoringModel | None, tasks: list[ReportTask]
) -> Iterator[CourseOutcome]:
    """Each task's report in turn, its outcome recorded in the ledger and yielded."""
    policy = RetryPolicy.from_settings(settings)
    for task in tasks:
        try:
            report, drift = make_course_report(engine, settings, model, task)
        except SYSTEMIC:
            raise
        except Exception as exc:  # noqa: BLE001 - one course's failure is recorded, the batch goes on
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
            given_up = mark_failed(engine, task, error, policy)
            if given_up:
                send_alert(
                    settings.alert_webhook_url,
                    "report_failed",
                    f"the report of {task.course_id} ({task.period_id}) on {task.report_date} failed after "
                    f"{task.failures + 1} attempt(s): {error}",
                    course_id=task.course_id,
                    period_id=task.period_id,
                )
            yield CourseOutcome(task, error=error, given_up=given_up)
            continue
        mark_done(engine, task.work_key, report.report_id)
        yield CourseOutcome(task, report, drift, notify_report_ready(settings, engine, report))
