"""Every benchmark in ``benchmarks/`` runs, as the README's command runs it, on tiny sizes: a module moved or renamed
under a benchmark fails here instead of when someone next measures. On both databases where a benchmark has both;
the ones that read ``../shared/data`` skip, naming the folder, where it is absent.

What is judged is that the benchmark ran and printed its table: exit 0, or ``TARGET_MISSED`` (a performance target
missed, as tiny runs on a shared machine may), never a crash, a 5xx or a wrong final state (exit 1). The figures
themselves are the README's, measured at full size.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import UCI_DIR, _postgres_server_url

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
OULAD_DIR = ROOT.parent / "shared" / "data" / "oulad"
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
from benchmarks._common import TARGET_MISSED  # noqa: E402

DATABASE = "{database}"  # replaced by the variant's database in a smoke run's arguments


@dataclass(frozen=True)
class Smoke:
    module: str
    args: tuple[str, ...]
    printed: str  # a line of the benchmark's final output: it got to the end
    databases: tuple[str, ...] = ()  # the variants, where the benchmark takes a database
    data: Path | None = None  # the shared data it reads, if any
    as_script: bool = False  # run as ``python benchmarks/x.py`` (its documented command), not ``-m``


SMOKES = (
    Smoke("ingest", ("--rows", "2000", "--repeat", "1", "--databases", DATABASE), "Ingestion of 2,000 rows",
          ("postgres", "sqlite")),
    Smoke("ingest_order", ("--uploads", "16", "--students", "20", "--per-upload", "6", "--databases", DATABASE),
          "Applying the uploads", ("sqlite", "postgres")),
    Smoke("api_latency", ("--requests", "10", "--uploads", "2", "--students", "200", "--database", DATABASE),
          "target: latest-report p95", ("sqlite", "postgres")),
    Smoke("course_page", ("--requests", "10", "--students", "200", "--reports", "2", "--actions", "20", "--database",
                          DATABASE), "target: course and student pages p95", ("sqlite", "postgres")),
    Smoke("load", ("--duration", "2", "--clients", "2", "--rows", "50", "--students", "100", "--database", DATABASE),
          "5xx: 0, failed requests: 0", ("sqlite", "postgres")),
    Smoke("dbt_build", ("--rows", "1200", "--databases", DATABASE), "dbt build (", ("sqlite", "postgres")),
    Smoke("score", ("--rows", "300", "--courses", "2", "--workers", "1", "--train-rows", "120", "--data",
                    str(UCI_DIR)), "target: scoring and report files", data=UCI_DIR),
    # A whole platform (`passcompass run`) on SQLite only, as the replay below: the report day's PostgreSQL branch is
    # the temporary database the others use, and batches on PostgreSQL are tested in test_report_batches.py.
    Smoke("report_day", ("--courses", "6", "--students", "5", "--train-rows", "60", "--data", str(UCI_DIR),
                         "--database", DATABASE), "targets:", ("sqlite",), data=UCI_DIR),
    # Counting on PostgreSQL (COPY into the staging table) is tested in test_activity.py; SQLite keeps this cheap.
    Smoke("activity", ("--rows", "3000", "--students", "100", "--databases", DATABASE), "Counting a Moodle log store",
          ("sqlite",)),
    Smoke("engagement", ("--students", "60", "--database", DATABASE), "mean weekly AUC", ("sqlite",)),
    Smoke("model_quality", ("--data", str(UCI_DIR), "--repeats", "1", "--splits", "3", "--sample", "120"),
          "training both courses with cross-validation", data=UCI_DIR, as_script=True),
    Smoke("oulad_reference", ("--data", str(OULAD_DIR), "--modules", "BBB", "--students", "60", "--weeks", "3"),
          "OULAD reference: train", data=OULAD_DIR),
    # The replay is a whole platform run (a dozen Dagster runs, dbt, training) even this small: SQLite only, to keep
    # this file cheap. What differs on PostgreSQL is the platform's own code, which the whole-term and deployment
    # catalog tests run on both; the benchmark's PostgreSQL branch is the temporary database the others use too.
    Smoke("oulad", ("--data", str(OULAD_DIR), "--modules", "BBB", "--students", "60", "--weeks", "3", "--database",
                    DATABASE), "Where the time went", ("sqlite",), data=OULAD_DIR),
)  # fmt: skip


def _variants() -> list[object]:
    params = []
    for smoke in SMOKES:
        for database in smoke.databases or (None,):
            marks = [pytest.mark.postgres] if database == "postgres" else []
            name = smoke.module if database is None else f"{smoke.module}-{database}"
            params.append(pytest.param(smoke, database, marks=marks, id=name))
    return params


def test_every_benchmark_has_a_smoke_run() -> None:
    runnable = {p.stem for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text()}
    assert runnable == {smoke.module for smoke in SMOKES}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("smoke", "database"), _variants())
def test_benchmark_runs_on_tiny_sizes(smoke: Smoke, database: str | None, tmp_path: Path) -> None:
    if smoke.data is not None and not smoke.data.is_dir():
        pytest.skip(f"{smoke.module} reads {smoke.data}, which is absent (see ../shared/data/README.md)")
    # The benchmark's own temporary homes and databases; none of this process's platform settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PASSCOMPASS_", "DAGSTER_", "MLFLOW_"))}
    env |= {"TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    if database == "postgres":
        env["PASSCOMPASS_TEST_POSTGRES_URL"] = _postgres_server_url()
    args = [arg.replace(DATABASE, database or "") for arg in smoke.args]
    entry = [str(BENCHMARKS / f"{smoke.module}.py")] if smoke.as_script else ["-m", f"benchmarks.{smoke.module}"]
    completed = subprocess.run(
        [sys.executable, *entry, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=840
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode in (0, TARGET_MISSED), f"exit {completed.returncode}:\n{output[-6000:]}"
    assert smoke.printed in completed.stdout, output[-6000:]
