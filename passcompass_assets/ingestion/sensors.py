"""Sensors that turn new uploads into runs: the uploads registry (API) and the inbox folder."""

import json
from pathlib import Path

import dagster as dg

from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.uploads import pending_uploads, receive_upload
from passcompass_assets.ingestion.assets import ingest_upload_job, uploads_partitions
from passcompass_assets.resources import PlatformResource


@dg.sensor(job=ingest_upload_job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def upload_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Each received upload becomes a partition and one run; the cursor (last upload seq) means exactly once."""
    after = int(context.cursor or 0)
    pending = pending_uploads(platform.engine, after_seq=after)
    if not pending:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new uploads"))
    upload_ids = [upload_id for _, upload_id in pending]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=upload_id, partition_key=upload_id) for upload_id in upload_ids],
        dynamic_partitions_requests=[uploads_partitions.build_add_request(upload_ids)],
        cursor=str(pending[-1][0]),
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
    too, its error written to ``inbox/rejected/NAME.error.json``. A symbolic link is rejected, never followed.
    Writers should drop files atomically (write, then rename). The upload sensor then launches the runs.
    """
    settings = platform.settings
    settings.ensure_dirs()
    files = sorted(p for p in settings.inbox_dir.glob("*.csv") if p.is_file() or p.is_symlink())
    received = rejected = 0
    for path in files:
        try:
            if path.is_symlink():
                raise Rejected(415, "not_a_file", "a symbolic link; drop the file itself")
            if path.stat().st_size > settings.max_upload_bytes:
                raise Rejected(413, "too_large", f"the file is larger than {settings.max_upload_bytes} bytes")
            receipt = receive_upload(
                platform.engine,
                platform.landing,
                path.read_bytes(),
                default_period_id=settings.default_period_id,
                source="inbox",
            )
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
