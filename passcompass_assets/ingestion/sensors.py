"""Sensors that turn uploads into runs: every upload still ``received`` (API or inbox) until it is applied."""

import json
from pathlib import Path

import dagster as dg

from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.inbox import read_dropped_file
from passcompass_assets.core.ingest.uploads import UploadPolicy, mark_upload, pending_uploads
from passcompass_assets.core.settings import Settings
from passcompass_assets.ingestion.assets import ingest_upload_job, uploads_partitions
from passcompass_assets.resources import PlatformResource
from passcompass_assets.work import RetryPolicy, Work, plan

LAUNCH_LIMIT = 100  # uploads considered per tick; the rest wait for the next


def ingest_work(upload_id: str) -> Work:
    return Work(f"ingest:{upload_id}", ingest_upload_job.name, upload_id)


@dg.sensor(
    job=ingest_upload_job,
    minimum_interval_seconds=Settings().upload_poll_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def upload_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Each received upload becomes a partition and a run; a failed run is retried with back-off, and an upload
    whose every attempt failed ends ``failed`` with the reason. No cursor: restarts and lost runs change nothing."""
    pending = {u.upload_id: u for u in pending_uploads(platform.engine, limit=LAUNCH_LIMIT)}
    decided = plan(context.instance, [ingest_work(u) for u in pending], RetryPolicy.from_settings(platform.settings))
    for item, tried in decided.given_up:
        upload_id = str(item.partition_key)
        reason = pending[upload_id].error or tried.last_error or "every attempt to apply it failed"
        mark_upload(platform.engine, upload_id, "failed", f"{reason} (after {tried.failures} attempt(s))")
    if not decided.launch:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{len(pending)} upload(s) waiting, none to launch now"))
    return dg.SensorResult(
        run_requests=decided.launch,
        dynamic_partitions_requests=[
            uploads_partitions.build_add_request([str(r.partition_key) for r in decided.launch])
        ],
    )


def _reject(path: Path, rejected_dir: Path, error: dict[str, object]) -> None:
    """The error goes to ``rejected/NAME.error.json``; the file itself is deleted: it may hold the very columns
    (names, e-mail addresses) an accepted upload would have dropped, and the sender still has it."""
    rejected_dir.mkdir(parents=True, exist_ok=True)
    (rejected_dir / f"{path.name}.error.json").write_text(json.dumps(error, indent=2), encoding="utf-8")
    path.unlink()


@dg.sensor(minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Register every ``*.csv`` dropped into ``PASSCOMPASS_HOME/inbox/`` like an API upload.

    An accepted file is removed (its PII-free normalised copy is in the landing store); a rejected one is removed
    too, its error written to ``inbox/rejected/NAME.error.json``. A symbolic or hard link is rejected, never
    followed.
    Writers should drop files atomically (write, then rename). The upload sensor then launches the runs.
    """
    settings = platform.settings
    settings.ensure_dirs()
    files = sorted(p for p in settings.inbox_dir.glob("*.csv") if p.is_file() or p.is_symlink())
    received = rejected = 0
    policy = UploadPolicy.from_settings(settings)
    for path in files:
        try:
            content = read_dropped_file(path, settings.max_upload_bytes)
            receipt = policy.receive(platform.engine, platform.landing, content, source="inbox")
        except Rejected as exc:
            _reject(path, settings.inbox_dir / "rejected", exc.as_dict())
            context.log.warning(f"inbox file rejected: {exc.error}: {exc.detail}")
            rejected += 1
            continue
        path.unlink()
        context.log.info(f"inbox file registered as upload {receipt.upload_id} ({receipt.rows} rows)")
        received += 1
    total = int(context.cursor or 0) + received + rejected
    if not files:
        return dg.SensorResult(skip_reason=dg.SkipReason("inbox is empty"), cursor=str(total))
    return dg.SensorResult(cursor=str(total))
