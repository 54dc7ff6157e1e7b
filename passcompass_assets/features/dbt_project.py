"""The dbt project as Dagster and the CLI see it: its connection, its manifest, and a plain ``dbt build``.

One setting drives dbt: ``dbt_env`` turns ``Settings().db_url`` (``PASSCOMPASS_DATABASE_URL``) into the
``PASSCOMPASS_DBT_*`` variables that ``dbt/profiles.yml`` reads. ``DbtCliResource`` hands dbt the process
environment, so ``dbt_environ`` puts them there for the duration of a call.

Run any dbt command by hand with the right connection: ``python -m passcompass_assets.features.dbt_project debug``.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from dagster_dbt import DbtCliResource, DbtProject

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.marts import POSTGRES_SCHEMA, POSTGRES_SOURCE_SCHEMA
from passcompass_assets.core.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR)
# The dbt installed beside this Python: the venv's bin directory need not be on PATH.
_SIBLING_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_SIBLING_DBT) if _SIBLING_DBT.exists() else "dbt"
# What the manifest is parsed from; a manifest older than any of these is stale.
_PROJECT_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests")
# Serialises dbt calls within a process: they share os.environ, and SQLite has a single writer anyway.
_DBT_LOCK = threading.RLock()


class DbtBuildFailed(RuntimeError):
    """``dbt build`` failed: a model errored or an error-severity dbt test failed."""


def _query_value(url: sa.URL, name: str) -> str | None:
    value = url.query.get(name)
    return value[-1] if isinstance(value, tuple) else value


def catalog_json() -> str:
    """The effective catalog's stored features as ``dbt/macros/catalog_features.sql`` reads them."""
    features = [{"name": c.name, "type": c.type, "known_from": c.known_from} for c in load_catalog().stored_features]
    return json.dumps(features)


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment variables ``dbt/profiles.yml`` and the models read: the connection, derived from the
    operational database URL, and the catalog."""
    url = sa.make_url(settings.db_url)
    backend = url.get_backend_name()
    # Run artefacts (compiled SQL, run results, logs) live under home with the rest of the platform's state;
    # DbtCliResource gives each invocation its own folder below DBT_TARGET_PATH.
    artifacts = {
        "DBT_TARGET_PATH": str(settings.resolved_home / "dbt" / "target"),
        "DBT_LOG_PATH": str(settings.resolved_home / "dbt" / "logs"),
        "PASSCOMPASS_DBT_CATALOG": catalog_json(),
    }
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("dbt needs a SQLite database file, not an in-memory database")
        return {
            **artifacts,
            "PASSCOMPASS_DBT_TARGET": "sqlite",
            # Absolute: dbt runs in the project directory, SQLAlchemy resolves relative paths from the caller's.
            "PASSCOMPASS_DBT_SQLITE_PATH": str(Path(url.database).expanduser().resolve()),
            "PASSCOMPASS_DBT_SQLITE_SCHEMA_DIR": str(settings.resolved_home / "dbt" / "schemas"),
        }
    if backend == "postgresql":
        return {
            **artifacts,
            "PASSCOMPASS_DBT_TARGET": "postgres",
            "PASSCOMPASS_DBT_PG_HOST": url.host or _query_value(url, "host") or "localhost",
            "PASSCOMPASS_DBT_PG_PORT": str(url.port or _query_value(url, "port") or 5432),
            # libpq's defaults when the URL leaves them out: the OS user, and a database named after the user.
            "PASSCOMPASS_DBT_PG_USER": url.username or getpass.getuser(),
            "DBT_ENV_SECRET_PASSCOMPASS_PG_PASSWORD": url.password or "",
            "PASSCOMPASS_DBT_PG_DBNAME": url.database or url.username or getpass.getuser(),
            "PASSCOMPASS_DBT_PG_SCHEMA": POSTGRES_SCHEMA,
            "PASSCOMPASS_DBT_PG_SOURCE_SCHEMA": POSTGRES_SOURCE_SCHEMA,
            "PASSCOMPASS_DBT_PG_SSLMODE": _query_value(url, "sslmode") or "prefer",
        }
    raise ValueError(f"dbt models run on SQLite or PostgreSQL, not {backend!r}")


@contextmanager
def dbt_environ(settings: Settings) -> Iterator[dict[str, str]]:
    """Set ``dbt_env(settings)`` in ``os.environ`` (where ``DbtCliResource`` reads it), restoring it afterwards."""
    env = dbt_env(settings)
    with _DBT_LOCK:
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _PROJECT_SOURCES:
        path = project_dir / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def ensure_manifest(project: DbtProject = DBT_PROJECT, settings: Settings | None = None) -> Path:
    """A current ``manifest.json`` for ``@dbt_assets``: ``dbt parse`` when it is missing or older than the project.

    A fresh clone needs no manual step, and an edited model is picked up on the next load. Parsing renders the
    profile but opens no connection, so no database needs to be up.
    """
    manifest = project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project.project_dir):
        return manifest
    # Parsed apart and moved in whole, so processes loading the code location at once never see half a file.
    scratch = project.project_dir / project.target_path / f"parse-{uuid.uuid4().hex[:12]}"
    try:
        with dbt_environ(settings or Settings()):
            dbt_resource().cli(["parse", "--quiet"], target_path=scratch).wait()
        os.replace(scratch / "manifest.json", manifest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return manifest


@cache
def dbt_resource() -> DbtCliResource:
    """The ``dbt`` resource for ``dbt_feature_assets``; one per process, as each new one first shells out to
    ``dbt --version`` (seconds)."""
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)


def _failures(run_results: dict) -> list[str]:
    """One line per errored model or failed error-severity test (warnings do not fail a build)."""
    return [
        f"{result['unique_id']}: {result['status']} ({result.get('message') or 'no message'})"
        for result in run_results.get("results", [])
        if result["status"] in ("error", "fail", "runtime error")
    ]


def run_dbt_build(settings: Settings, args: Sequence[str] = ()) -> None:
    """``dbt build`` (models and their dbt tests) on the database of ``settings``; raises :class:`DbtBuildFailed`.

    Each call gets its own target directory under ``<home>/dbt/target`` (concurrent calls would clash over one);
    it is removed on success and kept on failure, since the error names the compiled SQL inside it.
    """
    with dbt_environ(settings) as env:
        target_path = Path(env["DBT_TARGET_PATH"]) / f"build-{uuid.uuid4().hex[:12]}"
        invocation = dbt_resource().cli(["build", *args], target_path=target_path, raise_on_error=False)
        invocation.wait()
    if not invocation.is_successful():
        results_path = target_path / "run_results.json"
        failures = _failures(invocation.get_artifact("run_results.json")) if results_path.exists() else []
        # Without run results dbt stopped before running anything (profile, connection, compilation).
        detail = "\n".join(failures) or str(invocation.get_error())
        raise DbtBuildFailed(f"dbt build failed (artifacts in {target_path}):\n{detail}")
    shutil.rmtree(target_path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dbt <argv>`` in the project with the connection of the current settings."""
    env = {**os.environ, **dbt_env(Settings())}
    return subprocess.call(
        [DBT_EXECUTABLE, *(argv if argv is not None else sys.argv[1:])], cwd=DBT_PROJECT_DIR, env=env
    )


if __name__ == "__main__":
    raise SystemExit(main())
