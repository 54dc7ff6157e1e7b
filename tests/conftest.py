"""Shared fixtures: a fresh PASSCOMPASS_HOME per test, and a migrated database on SQLite and on PostgreSQL.

PostgreSQL tests run when ``PASSCOMPASS_TEST_POSTGRES_URL`` names a server (``.ci/run`` sets it, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``); each test gets its own, freshly created database. In CI
(``CI=true``) a missing server is an error, not a skip.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from passcompass_assets.core.db.engine import get_engine, with_driver
from passcompass_assets.core.db.migrate import upgrade
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.keys import ReportDay, ReportKey
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.settings import Settings

UCI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"
POSTGRES_ENV = "PASSCOMPASS_TEST_POSTGRES_URL"


def _postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set in CI: PostgreSQL tests must run, not skip")
        pytest.skip(f"no PostgreSQL server: set {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/postgres)")
    return url


@contextmanager
def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of ``template``), dropped afterwards."""
    server = make_url(with_driver(_postgres_server_url()))
    name = f"pc_test_{uuid.uuid4().hex[:12]}"
    # Unpooled: a connection per statement, none held open to the server while the test runs.
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    with _postgres_database() as url:
        yield url


def _migrated(url: str) -> str:
    """``url`` at the newest revision, with every connection to it closed (a copy source must be idle)."""
    upgrade(url)
    get_engine(url).dispose()
    get_engine.cache_clear()
    return url


# Migrating takes about half a second a database; the suite migrates one database per backend and copies it.
@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """The name of a migrated PostgreSQL database that tests' databases are created from (``TEMPLATE``)."""
    with _postgres_database() as url:
        yield make_url(_migrated(url)).database or ""


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that tests' databases are copied from."""
    path = tmp_path_factory.mktemp("migrated") / "passcompass.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture
def uci_dir() -> Path:
    if not (UCI_DIR / "student-mat.csv").exists():
        pytest.skip(f"UCI Student Performance files not found at {UCI_DIR}")
    return UCI_DIR


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a migrated, empty operational database: once on SQLite, once on PostgreSQL."""
    if request.param == "postgres":
        with _postgres_database(template=request.getfixturevalue("migrated_postgres")) as url:
            yield url
        return
    path = tmp_path / "home" / "passcompass.db"
    path.parent.mkdir(exist_ok=True)
    source = request.getfixturevalue("migrated_sqlite")
    with closing(sqlite3.connect(source)) as migrated, closing(sqlite3.connect(path)) as copy:
        migrated.backup(copy)
    yield f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a fresh PASSCOMPASS_HOME on the database under test, also exported to the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("PASSCOMPASS_HOME", str(home))
    monkeypatch.setenv("PASSCOMPASS_DATABASE_URL", database_url)
    # Commands under test set these for their children; start each test without, and restore after.
    for name in ("MLFLOW_TRACKING_URI", "DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    current = Settings()
    current.ensure_dirs()
    return current


@pytest.fixture
def engine(settings: Settings) -> sa.Engine:
    return get_engine(settings.db_url)


# A term that has ended: what the tests' uploads without a period_id name (PASSCOMPASS_DEFAULT_PERIOD_ID), declared
# as a deployment must declare its default period before uploads may use it.
PAST_TERM = (date(2025, 9, 1), date(2026, 1, 30))


def declare_periods(engine: sa.Engine, *period_ids: str, start: date = PAST_TERM[0], end: date = PAST_TERM[1]) -> None:
    """Declare terms (an ended one unless dates are given): uploads may only name declared periods."""
    for period_id in period_ids:
        upsert_period(engine, Period(period_id, start, end, 3))


@pytest.fixture
def default_period(engine: sa.Engine, settings: Settings) -> str:
    """The configured default period, declared (an ended term)."""
    declare_periods(engine, settings.default_period_id)
    return settings.default_period_id


@pytest.fixture
def store(settings: Settings) -> LandingStore:
    return LandingStore(settings.landing_dir)


def admin_token(database_url: str) -> str:
    """A new admin API token on the database at ``database_url``: what tests send to a signed-in API."""
    from passcompass_assets.core.access.tokens import create_token

    return create_token(get_engine(database_url), "admin", label="tests").token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    """The API, in process, on the database under test, signed in as an admin (a bearer token on every request;
    ``client.headers.pop("Authorization")`` for an anonymous one)."""
    from fastapi.testclient import TestClient

    from passcompass_api.main import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers.update(bearer(admin_token(settings.db_url)))
        yield test_client


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[list[dict]]:
    """A Slack-like webhook on 127.0.0.1 recording every alert it receives."""
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address, _Receiver.received  # type: ignore[misc]
    server.shutdown()


class DataDrivenModel:
    """A model whose answer depends on the data it is given (absences and the first interim grade): no training."""

    info = ModelInfo(version="1", promoted=True, gate="passed")

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        absences = pd.to_numeric(frame["absences"], errors="coerce").fillna(0).astype(float)
        grade = pd.to_numeric(frame.get("interim_grade_1"), errors="coerce").fillna(10).astype(float)
        probability = (1 / (1 + np.exp(-(absences / 5 - grade / 10)))).round(6)
        return pd.DataFrame(
            {
                "fail_probability": probability,
                "predicted_final_grade": 20 * (1 - probability),
                "top_factors": "",
                "signals_available": "first interim grade",
            },
            index=frame.index,
        )


def make_report_batch(
    engine: sa.Engine,
    keys: list[ReportKey],
    model: object,
    instance: object,
    work_prefix: str = "manual",
) -> tuple[object, str]:
    """Queue a report per key (all of one period and day) as one batch and run the report asset on it in process,
    as the report sensor's run would, recorded in ``instance`` (which the result reads: keep it alive); (the run's
    result, the batch id)."""
    import dagster as dg

    from passcompass_assets.core.reports.tasks import batch_of, queue
    from passcompass_assets.reporting.assets import BATCH_TAG, period_reports
    from passcompass_assets.reporting.partitions import REPORT_DAYS
    from passcompass_assets.resources import PlatformResource

    work = [(key, f"{work_prefix}:{key.key}") for key in keys]
    queue(engine, work)
    batch_id = batch_of(engine, [work_key for _, work_key in work])
    day = ReportDay(keys[0].period_id, keys[0].report_date).key
    assert isinstance(instance, dg.DagsterInstance)
    instance.add_dynamic_partitions(REPORT_DAYS, [day])
    result = dg.materialize(
        [period_reports],
        partition_key=day,
        instance=instance,
        resources={"platform": PlatformResource(), "model": model},
        tags={BATCH_TAG: batch_id},
        raise_on_error=False,
    )
    return result, batch_id


def alert_on_run_failure(instance: object, result: object) -> None:
    """What the run failure sensor does for a failed in-process run (``result``), as the daemon would call it."""
    import dagster as dg

    from passcompass_assets.monitoring import run_failure_alert
    from passcompass_assets.resources import PlatformResource

    assert isinstance(instance, dg.DagsterInstance) and isinstance(result, dg.ExecuteInProcessResult)
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=run,
        resources={"platform": PlatformResource()},
    ).for_run_failure()
    run_failure_alert(context)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (a stable sort): in parallel, the longest start early instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
