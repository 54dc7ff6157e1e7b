"""Receiving an upload: validate, land the PII-free file, register it. Shared by the API, the inbox sensor and the
demo loader, under one :class:`UploadPolicy` built from the settings.

Order matters for crash safety: the file is landed (atomically) before its registry row is committed, so a
registered upload always has its file; an orphaned landed file is harmless (content-addressed, reused on retry;
erasure and retention read it like every other landed file).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from passcompass_assets.core.courses import scales
from passcompass_assets.core.db.tables import uploads
from passcompass_assets.core.ingest.formats import Formats
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.pseudonyms import pseudonymise
from passcompass_assets.core.ingest.validation import (
    MAX_UPLOAD_COURSES,
    MAX_UPLOAD_PERIODS,
    StorageRules,
    UploadKind,
    ValidatedUpload,
    validate_csv,
)
from passcompass_assets.core.periods import list_periods
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.uploads")


@dataclass
class Upload:
    """A registered upload: what the client was told, and where its landed file is."""

    upload_id: str
    status: str  # received, processed or failed
    rows: int
    course_ids: list[str]
    period_ids: list[str]
    dropped_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    error: str | None = None
    kind: str = "students"
    received_at: datetime | None = None
    processed_at: datetime | None = None
    seq: int = 0  # arrival order
    landing_sha256: str = ""
    columns: list[str] = field(default_factory=list)  # the canonical columns it kept

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None

    @property
    def carries_final_grades(self) -> bool:
        return self.kind == "final_grades" or "final_grade" in self.columns


def content_key(
    content: bytes, kind: str, course_id: str | None, period_id: str | None, formats: Formats | None = None
) -> str:
    digest = hashlib.sha256()
    declared = [f"{k}={v}" for k, v in vars(formats or Formats()).items() if v is not None]  # read differently
    for part in (kind, course_id or "", period_id or "", *declared):
        digest.update(part.encode() + b"\x00")
    digest.update(content)
    return digest.hexdigest()


def _upload(row: sa.Row, duplicate: bool = False) -> Upload:
    return Upload(
        upload_id=row.upload_id,
        status=row.status,
        rows=row.rows,
        course_ids=list(row.course_ids),
        period_ids=list(row.period_ids),
        dropped_columns=list(row.dropped_columns),
        warnings=list(row.warnings),
        duplicate_of=row.upload_id if duplicate else None,
        error=row.error,
        kind=row.kind,
        received_at=row.received_at,
        processed_at=row.processed_at,
        seq=row.seq,
        landing_sha256=row.landing_sha256,
        columns=list(row.columns or []),
    )


def find_upload(engine: Engine, upload_id: str) -> Upload | None:
    """The upload with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id)).first()
    return _upload(row) if row else None


def _find_by_key(engine: Engine, key: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(uploads).where(uploads.c.content_key == key)).first()


@dataclass(frozen=True)
class UploadPolicy:
    """What the settings decide for every upload, whoever receives it (the API, the inbox, the demo loader)."""

    default_period_id: str = "default"  # the period of rows and uploads that name none
    default_grade_max: float = 20.0  # the scale of a course first seen in an upload
    pseudonym_key: str | None = None  # user ids landed as their keyed hash when set
    max_courses: int = MAX_UPLOAD_COURSES  # distinct courses one upload may name
    max_periods: int = MAX_UPLOAD_PERIODS  # distinct periods one upload may name

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadPolicy:
        return cls(
            settings.default_period_id,
            settings.default_grade_max,
            settings.pseudonym_key,
            settings.max_upload_courses,
            settings.max_upload_periods,
        )

    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`receive_upload` (and the preview's) these settings decide."""
        return {
            "default_period_id": self.default_period_id,
            "default_grade_max": self.default_grade_max,
            "pseudonym_key": self.pseudonym_key,
            "max_courses": self.max_courses,
            "max_periods": self.max_periods,
        }

    def receive(self, engine: Engine, store: LandingStore, content: bytes, **upload: Any) -> Upload:
        """:func:`receive_upload` under this policy; ``upload``: what the sender decides (kind, course_id,
        period_id, source, formats, confirm_before_end)."""
        return receive_upload(engine, store, content, **upload, **self.options())


def validate_for_storage(
    engine: Engine,
    content: bytes,
    *,
    kind: UploadKind = "students",
    course_id: str | None = None,
    period_id: str | None = None,
    default_period_id: str = "default",
    default_grade_max: float = 20.0,
    formats: Formats | None = None,
    confirm_before_end: bool = False,
    max_courses: int = MAX_UPLOAD_COURSES,
    max_periods: int = MAX_UPLOAD_PERIODS,
) -> ValidatedUpload:
    """An upload checked as storing it needs, every problem in one :class:`Rejected`: its values, its periods
    declared, its grades on their courses' scales, final grades before a period's end confirmed. Student data
    never carries labels: a final-grade column is dropped with a warning naming the final-grades route."""
    rules = StorageRules(
        periods={p.period_id: p for p in list_periods(engine)},
        scale_of=lambda pairs: {pair: top for pair, (top, _) in scales(engine, pairs).items()},
        default_grade_max=default_grade_max,
        confirm_before_end=confirm_before_end,
    )
    return validate_csv(
        content,
        kind=kind,
        course_id=course_id,
        period_id=period_id,
        default_period_id=default_period_id,
        formats=formats,
        keep_labels=kind == "final_grades",
        rules=rules,
        max_courses=max_courses,
        max_periods=max_periods,
    )


def receive_upload(
    engine: Engine,
    store: LandingStore,
    content: bytes,
    *,
    kind: UploadKind = "students",
    course_id: str | None = None,
    period_id: str | None = None,
    default_period_id: str = "default",
    source: str = "api",
    default_grade_max: float = 20.0,
    pseudonym_key: str | None = None,
    max_courses: int = MAX_UPLOAD_COURSES,
    max_periods: int = MAX_UPLOAD_PERIODS,
    formats: Formats | None = None,
    confirm_before_end: bool = False,
) -> Upload:
    """Validate and register an upload; raises :class:`Rejected` and stores nothing when invalid. With a
    ``pseudonym_key``, user ids are landed as their keyed hash (:mod:`~passcompass_assets.core.ingest.pseudonyms`)."""
    key = content_key(content, kind, course_id, period_id, formats)
    if (existing := _find_by_key(engine, key)) is not None:
        return _upload(existing, duplicate=True)

    validated = validate_for_storage(
        engine,
        content,
        kind=kind,
        course_id=course_id,
        period_id=period_id,
        default_period_id=default_period_id,
        default_grade_max=default_grade_max,
        formats=formats,
        confirm_before_end=confirm_before_end,
        max_courses=max_courses,
        max_periods=max_periods,
    )
    landed = pseudonymise(validated.table, pseudonym_key)
    landing_sha256 = store.put(landed)
    upload_id = str(uuid.uuid4())
    row = {
        "upload_id": upload_id,
        "kind": kind,
        "content_key": key,
        "landing_sha256": landing_sha256,
        "status": "received",
        "rows": validated.rows,
        "course_ids": validated.course_ids,
        "period_ids": validated.period_ids,
        "columns": validated.table.column_names,
        "dropped_columns": validated.dropped_columns,
        "warnings": validated.warnings,
        "source": source,
        "received_at": datetime.now(UTC),
    }
    try:
        with engine.begin() as conn:
            conn.execute(uploads.insert().values(**row))
    except IntegrityError:
        # The same content arrived concurrently and won the race: answer as a repeat of it.
        if (existing := _find_by_key(engine, key)) is not None:
            return _upload(existing, duplicate=True)
        raise
    if not store.path_for(landing_sha256).exists():
        # An erasure rewrote the file while it was not registered yet: this upload arrived after it, land it again.
        store.put(landed)
    log.info(
        "upload received",
        extra={
            "upload_id": upload_id,
            "kind": kind,
            "rows": validated.rows,
            "source": source,
            # A count, not the ids: one upload can hold thousands of courses.
            "courses": len(validated.course_ids),
        },
    )
    return Upload(
        upload_id=upload_id,
        status="received",
        rows=validated.rows,
        course_ids=validated.course_ids,
        period_ids=validated.period_ids,
        dropped_columns=validated.dropped_columns,
        warnings=validated.warnings,
        kind=kind,
        received_at=row["received_at"],
        landing_sha256=landing_sha256,
        columns=validated.table.column_names,
    )


def pending_uploads(engine: Engine, limit: int | None = None) -> list[Upload]:
    """Uploads still ``received`` (not applied, not given up), oldest first."""
    query = sa.select(uploads).where(uploads.c.status == "received").order_by(uploads.c.seq).limit(limit)
    with engine.connect() as conn:
        return [_upload(row) for row in conn.execute(query)]


def note_upload_error(engine: Engine, upload_id: str, error: str) -> None:
    """An attempt to apply the upload failed: say why, and leave it ``received`` for the next attempt."""
    with engine.begin() as conn:
        conn.execute(uploads.update().where(uploads.c.upload_id == upload_id).values(error=error))


def mark_upload(engine: Engine, upload_id: str, status: str, error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            uploads.update()
            .where(uploads.c.upload_id == upload_id)
            .values(status=status, error=error, processed_at=datetime.now(UTC))
        )


def has_uploads(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() > 0


def processed_since(engine: Engine, since: datetime | None) -> list[Upload]:
    """Uploads processed after ``since`` (all, when None), in the order they were processed."""
    query = sa.select(uploads).where(uploads.c.status == "processed").order_by(uploads.c.processed_at)
    if since is not None:
        query = query.where(uploads.c.processed_at > since)
    with engine.connect() as conn:
        return [_upload(row) for row in conn.execute(query)]


def list_uploads(engine: Engine, limit: int = 50) -> list[Upload]:
    """The latest uploads, newest first: what each kept, its status and why it failed, if it did."""
    query = sa.select(uploads).order_by(uploads.c.seq.desc()).limit(limit)
    with engine.connect() as conn:
        return [_upload(row) for row in conn.execute(query)]
