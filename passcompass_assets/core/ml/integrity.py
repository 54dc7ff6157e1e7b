"""A registered model is only loaded if its files are the ones PassCompass registered.

The MLflow store may be writable by more hands than PassCompass's database (an artifact bucket, a shared server),
and a model file is a pickle: loading it runs code. So when a version is registered its files' SHA-256 is recorded
in PassCompass's own database, and a version whose files differ, or that PassCompass never recorded, is refused
before it is unpickled. The database is migrated by the entry points (``passcompass db upgrade``, the home's
preparation), never from here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.db.tables import model_digests
from passcompass_assets.core.settings import Settings


class ModelRefused(Exception):
    """A registered version whose files do not match what PassCompass recorded (or that it never recorded)."""


def files_digest(folder: Path) -> str:
    """SHA-256 over every file below ``folder``: its relative path and its bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def local_copy(settings: Settings, model: str, version: str, into: Path) -> Path:
    """The files of registered ``model`` ``version``, downloaded from the registry into ``into``."""
    import mlflow.artifacts  # here, not at the top: the API imports this module for ModelRefused alone
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)  # a progress bar per load would fill the run logs
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model}/{version}",
            dst_path=str(into),
            tracking_uri=settings.mlflow_tracking_uri,
        )
    )


def record_digest(settings: Settings, version: str, run_id: str | None, folder: Path) -> str:
    """Record the digest of a version just registered (its files as downloaded in ``folder``)."""
    sha256 = files_digest(folder)
    with get_engine(settings.db_url).begin() as conn:
        conn.execute(sa.delete(model_digests).where(model_digests.c.version == version))
        conn.execute(
            sa.insert(model_digests).values(
                version=version, sha256=sha256, run_id=run_id, recorded_at=datetime.now(UTC)
            )
        )
    return sha256


def recorded_digest(settings: Settings, version: str) -> str | None:
    with get_engine(settings.db_url).connect() as conn:
        return conn.scalar(sa.select(model_digests.c.sha256).where(model_digests.c.version == version))


def verify(settings: Settings, version: str, folder: Path) -> None:
    """Raise :class:`ModelRefused`, with an alert, unless ``folder`` holds the files recorded for ``version``."""
    expected = recorded_digest(settings, version)
    if expected is None:
        problem = "PassCompass never registered it (no digest recorded)"
    elif files_digest(folder) != expected:
        problem = "its files differ from those PassCompass registered"
    else:
        return
    text = f"model version {version} refused: {problem}; retrain, or restore the registry's files"
    send_alert(settings.alert_webhook_url, "model_refused", text, model_version=version)
    raise ModelRefused(text)
