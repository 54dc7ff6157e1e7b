"""How long ``dbt build`` takes with a long history, on SQLite and PostgreSQL, beside copying the history once.

    python -m benchmarks.dbt_build [--rows 300000] [--databases sqlite,postgres]

Loads ``--rows`` dated versions (students x weekly snapshots of one period, with final grades for every student)
through the ingestion path, then times ``dbt build`` (every model and dbt test) and, as the floor, one
``CREATE TABLE .. AS SELECT * FROM record_versions`` in the same database: a build that stays a small multiple of
it is linear in the rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import nullcontext
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from benchmarks._common import (
    csv_bytes,
    declare_snapshot_period,
    machine_note,
    print_table,
    snapshot_table,
    temp_postgres_database,
)

WEEKS = 12


def _history(rows: int) -> list[bytes]:
    """One upload per week: the same students each week, dated that week."""
    base = snapshot_table(rows // WEEKS, courses=20, seed=1)
    index = base.column_names.index("as_of_date")
    start = date(2026, 9, 7)
    return [
        csv_bytes(
            base.set_column(index, "as_of_date", pa.array([(start + timedelta(weeks=w)).isoformat()] * base.num_rows))
        )
        for w in range(1, WEEKS + 1)
    ]


def _grades(rows: int) -> bytes:
    base = snapshot_table(rows // WEEKS, courses=20, seed=1)
    grades = pa.array([str((i % 16) * 1.25) for i in range(base.num_rows)])
    keys = {k: base[k] for k in ("user_id", "course_id", "period_id")}
    return csv_bytes(pa.table({**keys, "final_grade": grades}))


def measure(database: str, rows: int) -> list[object]:
    import sqlalchemy as sa

    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import ensure_schema
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.landing import LandingStore
    from passcompass_assets.core.ingest.uploads import receive_upload
    from passcompass_assets.core.settings import Settings
    from passcompass_assets.features.dbt_project import run_dbt_build

    with tempfile.TemporaryDirectory() as tmp:
        context = temp_postgres_database(prefix="pc_dbt") if database == "postgres" else nullcontext(None)
        with context as postgres_url:
            url = postgres_url or f"sqlite:///{Path(tmp) / 'pc.db'}"
            settings = Settings(home=Path(tmp) / "home", database_url=url)
            settings.ensure_dirs()
            ensure_schema(url)
            declare_snapshot_period(url)
            engine, store = get_engine(url), LandingStore(settings.landing_dir)
            started = time.perf_counter()
            for content in _history(rows):
                apply_upload(engine, store, receive_upload(engine, store, content, default_grade_max=20).upload_id)
            grades = receive_upload(engine, store, _grades(rows), kind="final_grades", confirm_before_end=True)
            apply_upload(engine, store, grades.upload_id)
            load = time.perf_counter() - started
            with engine.connect() as conn:
                versions = conn.execute(sa.text("SELECT count(*) FROM record_versions")).scalar_one()
            started = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE copy_of_versions AS SELECT * FROM record_versions"))
            floor = time.perf_counter() - started
            started = time.perf_counter()
            run_dbt_build(settings)
            build = time.perf_counter() - started
    return [database, versions, round(load, 1), round(floor, 2), round(build, 1), round(build / floor, 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args(argv)
    results = [measure(database, args.rows) for database in args.databases.split(",")]
    print(f"\ndbt build with a long history: {machine_note()}")
    header = ["database", "history rows", "load s", "copy once s (floor)", "dbt build s", "x floor"]
    print_table("dbt build (7 models, every dbt test) against one copy of the history", header, results)


if __name__ == "__main__":
    main()
