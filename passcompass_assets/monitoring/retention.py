"""Retention, daily: each period's student-level data purged ``PASSCOMPASS_RETENTION_DAYS`` after it ends, and
the access log's entries older than ``PASSCOMPASS_ACCESS_LOG_RETENTION_DAYS`` (core/privacy/retention.py).

The run's metadata holds counts and period ids only.
"""

import dagster as dg

from passcompass_assets.core.privacy.retention import apply_retention
from passcompass_assets.resources import PlatformResource


@dg.op(description="Purge what is past its retention: periods' student-level data, old access-log entries.")
def purge_expired(context: dg.OpExecutionContext, platform: PlatformResource) -> dg.Output[None]:
    outcome = apply_retention(platform.settings, platform.engine)
    periods = ", ".join(outcome.purged) or "none"
    context.log.info(f"retention: periods purged: {periods}; access-log entries removed: {outcome.access_log_entries}")
    return dg.Output(
        None,
        metadata={
            "periods_purged": dg.MetadataValue.json(outcome.purged),
            "already_purged": dg.MetadataValue.json(outcome.kept),
            "access_log_entries_removed": outcome.access_log_entries,
        },
    )


@dg.job(description="Apply the retention settings (see monitoring/retention.py).")
def retention_job() -> None:
    purge_expired()


retention_schedule = dg.ScheduleDefinition(
    name="retention_schedule",
    job=retention_job,
    cron_schedule="30 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: purge periods past PASSCOMPASS_RETENTION_DAYS and old access-log entries.",
)
