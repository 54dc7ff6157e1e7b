"""Course page benchmark, against ``passcompass serve`` on 127.0.0.1: the instructor's course page of a 10,000-student
course with a term of five reports (trajectories over all five) and recorded actions, page by page and filtered,
beside ``/api/v1/health`` measured in the same run; and the first view after a report arrives (the report's JSON
parsed once, then kept).

    .venv/bin/python -m benchmarks.course_page [--requests N] [--students N] [--reports N] [--actions N]
        [--database sqlite|postgres]

Requests go one at a time over a kept-alive connection, the page and the baseline interleaved so both see the same
noise. Target: the course page's p95 under 100 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from benchmarks._common import TARGET_MISSED, ApiServer, machine_note, median, percentile, print_table
from benchmarks.api_latency import admin_headers, database

TARGET_P95_MS = 100.0
COURSE = "bench-101"
PERIOD = "bench-term"


def store_term(database_url: str, home: Path, students: int, reports: int, actions: int = 500) -> None:
    """``reports`` reports of ``students`` students (probabilities drifting report to report) and ``actions``
    recorded actions."""
    from passcompass_assets.core.actions import KINDS, record_action
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.ml.loader import ModelInfo
    from passcompass_assets.core.periods import Period, upsert_period
    from passcompass_assets.core.reports.build import build_report
    from passcompass_assets.core.reports.store import store_report
    from passcompass_assets.core.settings import Settings

    upgrade(database_url)
    settings = Settings(home=home, database_url=database_url)
    settings.ensure_dirs()
    engine = get_engine(database_url)
    today = date.today()
    period = Period(PERIOD, today - timedelta(weeks=3 * reports + 1), today + timedelta(weeks=2), 3)
    upsert_period(engine, period)
    rng = np.random.default_rng(0)
    users = [f"s{i:06d}" for i in range(students)]
    logit = rng.normal(-1.0, 1.2, students)
    model = ModelInfo(version="1", promoted=True, gate="promoted", metrics={"roc_auc": 0.9})
    for k in range(reports):
        logit = logit + rng.normal(0, 0.4, students)
        probability = 1 / (1 + np.exp(-logit))
        scored = pd.DataFrame(
            {
                "user_id": users,
                "fail_probability": probability,
                "predicted_final_grade": 20 * (1 - probability),
                "top_factors": ["first interim grade low (7, course median 12); absences high (9, course median 3)"]
                * students,
                "background_factors": ["past course failures 1"] * students,
                "signals_available": ["first interim grade"] * students,
            }
        )
        report = build_report(
            scored,
            course_id=COURSE,
            period=period,
            as_of=period.start_date + timedelta(weeks=3 * (k + 1)),
            model=model,
            risk_high=settings.risk_high,
            risk_medium=settings.risk_medium,
            scale=(20.0, 10.0),
        )
        store_report(engine, settings.reports_dir, report)
    now = datetime.now(UTC)
    for i in range(actions):
        record_action(
            engine,
            course_id=COURSE,
            period_id=PERIOD,
            user_id=users[int(rng.integers(0, students))],
            kind=KINDS[i % len(KINDS)],
            actor="token:benchmark",
            at=now - timedelta(hours=i),
        )


def timed(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(url)
    response.read()
    return (time.perf_counter() - started) * 1000, response


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="course pages (and as many baseline requests)")
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--reports", type=int, default=5, help="reports in the term (the trajectories' points)")
    parser.add_argument("--actions", type=int, default=500, help="recorded actions on the course's students")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    pages = -(-args.students // 50)
    views = {
        "first page": f"/courses/{COURSE}",
        "a page further on": f"/courses/{COURSE}?page={{page}}",
        "high band, risk rising": f"/courses/{COURSE}?band=high&show=rising",
        "new to high risk": f"/courses/{COURSE}?show=new",
        "a student's page": f"/courses/{COURSE}/students/s{{student:06d}}",
    }
    rng = np.random.default_rng(1)

    with tempfile.TemporaryDirectory(prefix="pc_course_page_") as tmp, database(args.database, Path(tmp)) as url:
        home = Path(tmp) / "home"
        store_term(url, home, args.students, args.reports, args.actions)
        headers = admin_headers(url)
        with ApiServer(home, url) as server, httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
            cold, response = timed(client, views["first page"])  # the term's reports parsed for the first time
            size = len(response.content)
            for _ in range(20):  # warm-up: connections, first imports
                client.get(views["first page"]), client.get("/api/v1/health")
            times: dict[str, list[float]] = {name: [] for name in (*views, "health")}
            statuses = {response.status_code}
            for i in range(args.requests):
                name = list(views)[i % len(views)]
                page, student = int(rng.integers(2, pages + 1)), int(rng.integers(args.students))
                path = views[name].format(page=page, student=student)
                for label, target in ((name, path), ("health", "/api/v1/health")):
                    elapsed, response = timed(client, target)
                    statuses.add(response.status_code)
                    times[label].append(elapsed)
            everything = [t for name in views for t in times[name]]

    baseline = percentile(times["health"], 95)
    rows = [["GET /api/v1/health (baseline)", len(times["health"]), median(times["health"]), baseline,
             percentile(times["health"], 99), 1.0]]  # fmt: skip
    for name in (*views, "all course and student pages"):
        values = everything if name not in views else times[name]
        p95 = percentile(values, 95)
        rows.append([name, len(values), median(values), p95, percentile(values, 99), p95 / baseline])
    print_table(
        f"Course page on {args.database}: {args.students:,} students, {args.reports} reports, {args.actions} actions "
        "(ms; one request at a time; 50 students a page)",
        ["request", "n", "p50", "p95", "p99", "p95 / baseline p95"],
        rows,
    )
    print(f"first view after the reports arrived (parsing {args.reports} report files): {cold:.0f} ms")
    print(f"page size: {size / 1e3:.0f} kB; statuses {sorted(statuses)}; machine: {machine_note()}")
    p95 = percentile(everything, 95)
    verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
    print(f"target: course and student pages p95 < {TARGET_P95_MS:.0f} ms: {verdict} ({p95:.1f} ms)")
    if statuses != {200}:
        return 1
    return 0 if p95 < TARGET_P95_MS else TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
