"""Load test against ``passcompass serve`` on 127.0.0.1: concurrent clients mixing uploads of 1,000-row files for
overlapping students with report downloads, for a bounded time. Afterwards every accepted upload is applied in
arrival order, as the upload sensor's runs apply them, and the final state is checked: one
row per student, equal to that student's row in the latest upload that named them (no lost or duplicated rows).

    .venv/bin/python -m benchmarks.load [--duration 60] [--clients 20] [--database sqlite|postgres]

Exits non-zero on any 5xx, failed request or wrong final state. ``tests/test_load.py`` runs a 10-second version.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa

from benchmarks._common import ApiServer, csv_bytes, machine_note, percentile, print_table, snapshot_table
from benchmarks.api_latency import COURSE, admin_headers, database, store_course_report

UPLOAD_SHARE = 0.4  # of requests; the rest download the latest report
APPLY_RUNS = 4  # what deploy/dagster.yaml allows at once


@dataclass
class LoadResult:
    duration: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"upload": [], "download": []})
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # upload_id -> content of accepted uploads
    problems: list[str] = field(default_factory=list)  # wrong final state
    apply_seconds: float = 0.0
    out_of_order: int = 0  # uploads that committed after a newer one and replayed it
    students: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return not self.server_errors and not self.failures and not self.problems and bool(self.uploads)


def upload_file(number: int, pool: int, rows: int, rng: random.Random) -> bytes:
    """``rows`` students drawn from a pool of ``pool`` (so uploads overlap), values new in every file."""
    table = snapshot_table(rows, courses=1, seed=number)
    students = sorted(rng.sample(range(pool), rows))
    table = table.set_column(0, "user_id", pa.array([f"load-{i:05d}" for i in students]))
    table = table.set_column(1, "course_id", pa.array([COURSE] * rows))
    return csv_bytes(table)


async def _client(
    client: httpx.AsyncClient, deadline: float, result: LoadResult, files: asyncio.Queue[bytes], rng: random.Random
) -> None:
    while time.monotonic() < deadline:
        kind = "upload" if rng.random() < UPLOAD_SHARE else "download"
        started = time.perf_counter()
        try:
            if kind == "upload":
                content = await files.get()
                response = await client.post("/api/v1/uploads", files={"file": ("load.csv", content, "text/csv")})
                if response.status_code == 202:
                    result.uploads[response.json()["upload_id"]] = content
            else:
                response = await client.get("/api/v1/reports/latest", params={"course_id": COURSE})
        except httpx.HTTPError as exc:
            result.failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        result.latencies[kind].append((time.perf_counter() - started) * 1000)
        result.statuses[(kind, response.status_code)] += 1
        if response.status_code >= 400 and len(result.failures) < 20:
            result.failures.append(f"{kind}: {response.status_code} {response.text[:200]}")


async def _produce(files: asyncio.Queue[bytes], deadline: float, pool: int, rows: int, seed: int) -> None:
    """Upload files made ahead of need in a thread, so making them is not counted as request time."""
    rng = random.Random(seed)
    number = 0
    while time.monotonic() < deadline:
        await files.put(await asyncio.to_thread(upload_file, number, pool, rows, rng))
        number += 1


async def _drive(
    url: str, duration: float, clients: int, pool: int, rows: int, seed: int, headers: dict[str, str]
) -> LoadResult:
    result = LoadResult(duration=duration)
    files: asyncio.Queue[bytes] = asyncio.Queue(maxsize=clients)
    for number in range(clients):  # a first file per client before the clock starts
        files.put_nowait(upload_file(10_000 + number, pool, rows, random.Random(seed + number)))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.monotonic() + duration
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, headers=headers) as client:
        producer = asyncio.create_task(_produce(files, deadline, pool, rows, seed))
        await asyncio.gather(
            *(_client(client, deadline, result, files, random.Random(seed * 1000 + i)) for i in range(clients))
        )
        producer.cancel()
    return result


def apply_and_check(result: LoadResult, database_url: str, home: Path) -> None:
    """Apply every accepted upload as the upload sensor's runs do: started in arrival order, up to
    ``APPLY_RUNS`` at once (``max_concurrent_runs``), so they can commit out of order. Then compare each student's
    row with their row in the latest upload that named them."""
    import sqlalchemy as sa

    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.tables import student_records, uploads
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.landing import LandingStore
    from passcompass_assets.core.ingest.uploads import pending_uploads
    from passcompass_assets.core.ingest.validation import validate_csv

    engine = get_engine(database_url)
    store = LandingStore(home / "landing")
    started = time.perf_counter()
    with ThreadPoolExecutor(APPLY_RUNS) as runs:
        pending = [u.upload_id for u in pending_uploads(engine)]
        list(runs.map(lambda upload_id: apply_upload(engine, store, upload_id), pending))
    result.apply_seconds = time.perf_counter() - started

    with engine.connect() as conn:
        seqs = dict(conn.execute(sa.select(uploads.c.upload_id, uploads.c.seq)).all())
        actual = pd.read_sql(sa.select(student_records), conn)
    expected = pd.concat(
        [validate_csv(content).frame.assign(source_upload_id=u, seq=seqs[u]) for u, content in result.uploads.items()]
    )
    expected = expected.sort_values("seq").drop_duplicates("user_id", keep="last").set_index("user_id").sort_index()
    actual = actual.set_index("user_id").sort_index()
    result.students = len(expected)
    if actual.index.has_duplicates or list(actual.index) != list(expected.index):
        lost = len(expected.index.difference(actual.index))
        extra = len(actual.index.difference(expected.index))
        result.problems.append(f"{len(actual)} rows for {len(expected)} students: {lost} lost, {extra} unexpected")
        return
    columns = [c for c in expected.columns if c in actual.columns and c not in ("seq", "updated_at")]
    differs = (_comparable(actual[columns]).to_numpy() != _comparable(expected[columns]).to_numpy()).any(axis=1)
    if differs.any():
        example = actual.index[differs.argmax()]
        result.problems.append(f"{int(differs.sum())} students differ from their latest upload, e.g. {example}")


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as text, empty where missing, so both databases' types compare with the validated frame's."""
    return frame.astype(object).where(frame.notna(), "").map(lambda v: f"{v:.6g}" if isinstance(v, float) else str(v))


@contextmanager
def no_rate_limits() -> Iterator[None]:
    """The environment of a server started inside: no per-token rate limits (restored afterwards)."""
    names = ("PASSCOMPASS_UPLOAD_RATE_PER_MINUTE", "PASSCOMPASS_REPORT_REQUEST_RATE_PER_MINUTE")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "0"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_load(
    database_url: str,
    home: Path,
    *,
    duration: float = 60,
    clients: int = 20,
    rows: int = 1000,
    pool: int = 3000,
    seed: int = 0,
) -> LoadResult:
    """The whole test: a report to download, the server, the load, then processing and the state check."""
    store_course_report(database_url, home, 1000)
    headers = admin_headers(database_url)
    # One admin token for every client, so the per-token upload limit is off for this server (it measures load).
    with no_rate_limits(), ApiServer(home, database_url) as server:
        result = asyncio.run(_drive(server.url, duration, clients, pool, rows, seed, headers))
        health = httpx.get(f"{server.url}/api/v1/health", timeout=10)
        if health.status_code != 200:
            result.failures.append(f"health after the load: {health.status_code}")
    apply_and_check(result, database_url, home)
    return result


def report(result: LoadResult, rows: int) -> None:
    table = []
    for kind in ("upload", "download"):
        values = result.latencies[kind]
        statuses = ", ".join(f"{s}: {n}" for (k, s), n in sorted(result.statuses.items()) if k == kind)
        table.append(
            [kind, len(values), len(values) / result.duration, *(percentile(values, q) for q in (50, 95, 99)), statuses]
        )
    print_table(
        f"Load: {result.duration:.0f} s (ms)", ["request", "n", "per s", "p50", "p95", "p99", "statuses"], table
    )
    accepted = len(result.uploads)
    print(f"uploads accepted: {accepted} ({accepted * rows / result.duration:,.0f} rows/s received)")
    rate = accepted / max(result.apply_seconds, 1e-9)
    print(f"applied afterwards in {result.apply_seconds:.1f} s ({rate:.1f} uploads/s, {APPLY_RUNS} runs at once)")
    print(f"applied after a newer upload of the same course (then replayed it): {result.out_of_order}")
    state = "; ".join(result.problems) or "each equal to their latest upload"
    print(f"final state: {result.students} students, {state}")
    print(f"machine: {machine_note()}")
    print(f"5xx: {result.server_errors}, failed requests: {len(result.failures)}")
    for failure in result.failures[:10]:
        print(f"  {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1000, help="rows per uploaded file")
    parser.add_argument("--students", type=int, default=3000, help="pool the uploads draw their students from")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pc_load_") as tmp, database(args.database, Path(tmp)) as url:
        result = run_load(
            url, Path(tmp) / "home", duration=args.duration, clients=args.clients, rows=args.rows, pool=args.students
        )
    report(result, args.rows)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
