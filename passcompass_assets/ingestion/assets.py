"""Ingestion assets: each upload is a partition; applying it updates the current state per student and course."""

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from passcompass_assets.core.db.redact import describe_error
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.quality import check_frame, row_key
from passcompass_assets.core.ingest.uploads import Upload, find_upload, mark_upload, note_upload_error
from passcompass_assets.core.records import records_of_courses
from passcompass_assets.resources import PlatformResource
from passcompass_assets.work import mark_final

UPLOADS_PARTITIONS = "uploads"
uploads_partitions = dg.DynamicPartitionsDefinition(name=UPLOADS_PARTITIONS)


@contextmanager
def notes_failure(platform: PlatformResource, upload_id: str) -> Iterator[None]:
    """A failure while processing an upload is noted on it, with the reason, before the run fails; the upload
    stays ``received``, so the upload sensor retries it (and gives up, saying why, after the last attempt)."""
    try:
        yield
    except Exception as exc:
        # A driver's message can quote a stored value, so it is redacted; if the database itself is down,
        # the run failure says why.
        with suppress(sa.exc.SQLAlchemyError):
            note_upload_error(platform.engine, upload_id, describe_error(exc)[:2000])
        raise


def _upload(platform: PlatformResource, upload_id: str) -> Upload:
    upload = find_upload(platform.engine, upload_id)
    if upload is None:
        raise dg.Failure(f"no upload {upload_id} is registered")
    return upload


def _quality_check(frame: pd.DataFrame, asset_key: str, keys: list[str] | None = None) -> dg.AssetCheckResult:
    result = check_frame(frame, keys=keys)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="catalog_expectations",
        passed=result.success,
        metadata={"summary": result.summary(), "failures": dg.MetadataValue.json(result.failures)},
    )


@dg.asset(
    partitions_def=uploads_partitions,
    group_name="ingestion",
    kinds={"parquet"},
    check_specs=[dg.AssetCheckSpec("catalog_expectations", asset="raw_uploads", blocking=True)],
    description="One validated, PII-free upload in the landing store (one partition per upload).",
)
def raw_uploads(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
    upload_id = context.partition_key
    with notes_failure(platform, upload_id):
        upload = _upload(platform, upload_id)
        frame = platform.landing.get(upload.landing_sha256)
        check = _quality_check(frame, "raw_uploads", row_key(list(frame.columns)))
    if not check.passed:
        # The blocking check stops the run before the upload is applied: say so on the upload, and do not retry.
        mark_upload(platform.engine, upload_id, "failed", f"data quality: {check.metadata['summary'].value}")
        mark_final(context)
    return dg.MaterializeResult(
        metadata={
            "kind": upload.kind,
            "rows": len(frame),
            "columns": dg.MetadataValue.json(list(frame.columns)),
            "dropped_columns": dg.MetadataValue.json(list(upload.dropped_columns)),
            "course_ids": dg.MetadataValue.json(list(upload.course_ids)),
            "landing_sha256": upload.landing_sha256,
            "received_at": upload.received_at.isoformat() if upload.received_at else "",
        },
        check_results=[check],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "student_records",
            deps=[raw_uploads],
            group_name="ingestion",
            kinds={"sql"},
            description="Current state per user_id x course_id x period_id; the latest upload wins, column by column.",
        ),
        dg.AssetSpec(
            "final_grades",
            deps=[raw_uploads],
            group_name="ingestion",
            kinds={"sql"},
            description="Final grades (the labels), per user_id x course_id x period_id.",
        ),
    ],
    check_specs=[dg.AssetCheckSpec("catalog_expectations", asset="student_records")],
    partitions_def=uploads_partitions,
)
def apply_uploads(context: dg.AssetExecutionContext, platform: PlatformResource) -> Iterator[object]:
    """Upsert one upload into both tables in one transaction, then check the courses it touched."""
    upload_id = context.partition_key
    settings = platform.settings
    with notes_failure(platform, upload_id):
        applied = apply_upload(
            platform.engine,
            platform.landing,
            upload_id,
            grade_max=settings.default_grade_max,
            pass_mark=settings.default_pass_mark,
        )
    context.log.info(
        f"upload {upload_id}: {applied.student_rows} student rows, {applied.grade_rows} final grades applied"
    )
    yield dg.MaterializeResult(
        asset_key="student_records",
        metadata={
            "rows_upserted": applied.student_rows,
            "course_ids": dg.MetadataValue.json(applied.course_ids),
            "newer_uploads_replayed": applied.replayed_uploads,
        },
    )
    yield dg.MaterializeResult(asset_key="final_grades", metadata={"rows_upserted": applied.grade_rows})
    touched = records_of_courses(platform.engine, applied.course_ids, applied.period_ids)
    yield _quality_check(touched, "student_records")


ingest_upload_job = dg.define_asset_job(
    "ingest_upload",
    selection=dg.AssetSelection.assets(raw_uploads, apply_uploads),
    partitions_def=uploads_partitions,
    # Two short steps: running them in the run's own process saves a Python start-up per step.
    executor_def=dg.in_process_executor,
    description="Land, check and apply one upload (one partition of the uploads).",
)
