"""Work that must get done, launched until it is: Dagster's run storage is the ledger of attempts.

A sensor names the work still to do (an upload still ``received``, a report request still ``requested``, final
grades not yet evaluated). Each piece of work has a key, and every run for it carries that key as a tag, so the
sensor can tell whether a run is in progress, how many failed, and when the last one ended, whatever happened
to the daemon or to the run's worker in between. No cursor: a piece of work is relaunched until it succeeds or
has failed :attr:`RetryPolicy.attempts` times, waiting longer after each failure. The run-failure alert speaks
only for the last attempt, so a piece of work that keeps failing alerts once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from passcompass_assets.core.retry import RetryPolicy

WORK_TAG = "passcompass/work"
ATTEMPT_TAG = "passcompass/attempt"
FINAL_TAG = "passcompass/final"  # set by a run that failed for a reason no retry can mend
# Set by a run whose items all failed on their own: a ledger of items retries and alerts for them, not the run.
ITEMS_TAG = "passcompass/items_failed"
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass(frozen=True)
class Work:
    key: str  # what must be done, e.g. "ingest:<upload id>"
    job_name: str
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempts:
    in_progress: bool
    succeeded: bool
    failures: int
    final: bool  # a failed run said retrying cannot help
    last_ended: datetime | None
    last_error: str | None


def attempts(instance: dg.DagsterInstance, key: str) -> Attempts:
    """What the run storage knows of every run for ``key``."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={WORK_TAG: key}))
    failed = [run for run in runs if run.status in _FAILED]
    last = max(failed, key=lambda run: _ended(instance, run.run_id) or datetime.min.replace(tzinfo=UTC), default=None)
    return Attempts(
        in_progress=any(run.status in _ACTIVE for run in runs),
        succeeded=any(run.status == dg.DagsterRunStatus.SUCCESS for run in runs),
        failures=len(failed),
        final=any(run.tags.get(FINAL_TAG) == "true" for run in failed),
        last_ended=_ended(instance, last.run_id) if last else None,
        last_error=failure_message(instance, last.run_id) if last else None,
    )


def _ended(instance: dg.DagsterInstance, run_id: str) -> datetime | None:
    record = instance.get_run_record_by_id(run_id)
    if record is None or record.end_time is None:
        return None
    return datetime.fromtimestamp(record.end_time, UTC)


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Why a run failed, in Dagster's words (the run-failure event's message)."""
    events = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return events[-1].event_log_entry.message if events else None


@dataclass
class Plan:
    launch: list[dg.RunRequest] = field(default_factory=list)
    succeeded: list[Work] = field(default_factory=list)
    given_up: list[tuple[Work, Attempts]] = field(default_factory=list)


def plan(instance: dg.DagsterInstance, work: Iterable[Work], policy: RetryPolicy, now: datetime | None = None) -> Plan:
    """For each piece of work: nothing while a run is in progress; done once one succeeded; given up after
    ``policy.attempts`` failures (or one final one); else a run, once the back-off since the last failure is over."""
    now = now or datetime.now(UTC)
    result = Plan()
    for item in work:
        tried = attempts(instance, item.key)
        if tried.in_progress:
            continue
        if tried.succeeded:
            result.succeeded.append(item)
        elif tried.final or tried.failures >= policy.attempts:
            result.given_up.append((item, tried))
        elif tried.last_ended is None or now - tried.last_ended >= policy.wait_after(tried.failures):
            attempt = tried.failures + 1
            result.launch.append(
                dg.RunRequest(
                    run_key=f"{item.key}#{attempt}",
                    job_name=item.job_name,
                    partition_key=item.partition_key,
                    tags={**item.tags, WORK_TAG: item.key, ATTEMPT_TAG: str(attempt)},
                )
            )
    return result


def is_last_attempt(run: dg.DagsterRun, policy: RetryPolicy) -> bool:
    """Whether a failed run is the last its work gets (runs not managed here always are)."""
    if WORK_TAG not in run.tags:
        return True
    return run.tags.get(FINAL_TAG) == "true" or int(run.tags.get(ATTEMPT_TAG, "1")) >= policy.attempts


def mark_items_failed(context: dg.AssetExecutionContext) -> None:
    """This run failed because each of its items failed; their own ledger retries them (or gives them up, with
    one alert each), so the run itself is neither retried nor alerted on."""
    context.instance.add_run_tags(context.run_id, {ITEMS_TAG: "true"})


def mark_final(context: dg.AssetExecutionContext) -> None:
    """This run failed for a reason no retry can mend (e.g. the data broke a blocking check)."""
    context.instance.add_run_tags(context.run_id, {FINAL_TAG: "true"})
