"""Plumbing shared by the benchmarks and the load and fault tests: a real API server, throw-away PostgreSQL
databases, generated snapshot files, timing and memory figures, and plain-text tables.

Run the benchmarks from the repository root as modules (``.venv/bin/python -m benchmarks.ingest``).
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
PASSCOMPASS = Path(sys.executable).with_name("passcompass")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# Exit status of a benchmark that ran correctly but missed a performance target; 1 stays a failure (a crash, a 5xx,
# a wrong answer), so tests/test_benchmarks.py tells a busy shared machine from a broken benchmark.
TARGET_MISSED = 3


def postgres_server_url() -> str | None:
    """The PostgreSQL server to benchmark on: ``PASSCOMPASS_TEST_POSTGRES_URL``, else the local default if it
    answers, else None."""
    url = os.environ.get("PASSCOMPASS_TEST_POSTGRES_URL")
    if url:
        return url
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return DEFAULT_POSTGRES
    return None


@contextlib.contextmanager
def temp_postgres_database(server_url: str | None = None, prefix: str = "pc_bench") -> Iterator[str]:
    """A new, empty PostgreSQL database on ``server_url`` (default: :func:`postgres_server_url`), dropped afterwards
    (even if the block fails)."""
    import sqlalchemy as sa

    server_url = server_url or postgres_server_url()
    if server_url is None:
        raise SystemExit("no PostgreSQL server: set PASSCOMPASS_TEST_POSTGRES_URL or run one on 127.0.0.1:5432")
    from passcompass_assets.core.db.engine import get_engine, with_driver

    server = sa.engine.make_url(with_driver(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    # A connection per statement: one kept from before a server restart would fail the drop.
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        get_engine.cache_clear()  # its pooled connections go with the database (FORCE)
        with contextlib.suppress(Exception), admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def fresh_home(database: str, prefix: str) -> Iterator[tuple[Path, str]]:
    """A fresh platform home, and its database: SQLite under it, or a new PostgreSQL database (``database``)."""
    with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        context = temp_postgres_database(prefix=prefix) if database == "postgres" else contextlib.nullcontext(None)
        with context as postgres_url:
            yield home, postgres_url or f"sqlite:///{home / 'passcompass.db'}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    """``passcompass serve`` in a subprocess on 127.0.0.1 (migrates the database first, like production)."""

    home: Path
    database_url: str | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def start(self, timeout: float = 90) -> ApiServer:
        self.port = self.port or free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PASSCOMPASS_HOME": str(self.home)}
        if self.database_url:
            env["PASSCOMPASS_DATABASE_URL"] = self.database_url
        command = [str(PASSCOMPASS), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited ({self.process.returncode}): {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the API did not answer within {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# --- generated data --------------------------------------------------------------------------------------------

# 30 catalog columns of a realistic snapshot: the four keys and 26 features of every type.
SNAPSHOT_COLUMNS = (
    *("user_id", "course_id", "period_id", "as_of_date", "school", "sex", "age", "address_type", "family_size"),
    *("parents_status", "mother_education", "father_education", "mother_job", "guardian", "family_support"),
    *("family_relationship", "study_time", "study_hours_per_week", "past_failures", "previous_grade"),
    *("internet_access", "free_time", "going_out", "health", "absences", "attendance_rate"),
    *("assignment_completion", "quiz_average", "lms_logins", "interim_grade_1"),
)


# The period of the generated snapshots; declared before they are uploaded, as a deployment declares its terms.
SNAPSHOT_PERIOD = "2026-autumn"


def declare_snapshot_period(database_url: str) -> None:
    """Declare the generated snapshots' term on the (migrated) database: uploads may name declared periods only."""
    from datetime import date

    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.periods import Period, upsert_period

    upsert_period(get_engine(database_url), Period(SNAPSHOT_PERIOD, date(2026, 9, 7), date(2026, 12, 18), 3))


def snapshot_table(rows: int, *, courses: int = 50, seed: int = 0, user_prefix: str = "u") -> pa.Table:
    """``rows`` students spread over ``courses`` courses of one period, as strings, with plausible values of every
    type and about 3 % of the cells empty, as real exports have (built with Arrow: a million rows in a second)."""
    from passcompass_assets.core.catalog import load_catalog
    from passcompass_assets.core.settings import Settings

    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    numbers = pa.array(np.arange(rows)).cast(pa.string())
    columns: dict[str, pa.Array] = {
        "user_id": pc.binary_join_element_wise(user_prefix, numbers, ""),
        "course_id": pc.binary_join_element_wise("course-", pa.array(np.arange(rows) % courses).cast(pa.string()), ""),
        "period_id": pa.array(np.full(rows, SNAPSHOT_PERIOD)),
        "as_of_date": pa.array(np.full(rows, "2026-10-19")),
    }
    grade_max = Settings().default_grade_max  # grades on the course's scale stay within a new course's default
    for name in SNAPSHOT_COLUMNS[4:]:
        column = catalog[name]
        if column.on_grade_scale:
            values = pa.array(np.round(rng.uniform(0, grade_max, rows), 1)).cast(pa.string())
        elif column.type == "integer":
            values = pa.array(rng.integers(int(column.min), int(min(column.max, 60)) + 1, rows)).cast(pa.string())
        elif column.type == "number":
            values = pa.array(np.round(rng.uniform(column.min, min(column.max, 100), rows), 1)).cast(pa.string())
        elif column.type == "boolean":
            values = pa.array(np.where(rng.random(rows) < 0.5, "yes", "no"))
        else:
            values = pa.array(rng.choice(np.array(list(column.categories)), rows))
        columns[name] = pc.if_else(pa.array(rng.random(rows) < 0.03), pa.scalar(None, pa.string()), values)
    return pa.table(columns)


def snapshot_frame(rows: int, **kwargs: object) -> pd.DataFrame:
    return snapshot_table(rows, **kwargs).to_pandas()  # type: ignore[arg-type]


def csv_bytes(data: pa.Table | pd.DataFrame) -> bytes:
    """The table as a CSV file (no value needs quoting: generated ids and numbers hold no delimiter)."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, write_options=pacsv.WriteOptions(quoting_style="none"))
    return buffer.getvalue()


# --- figures ------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_note() -> str:
    """Cores and load: the machine is shared, so numbers are read against what else was running."""
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load1:.1f} (1 min) / {load5:.1f} (5 min)"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
