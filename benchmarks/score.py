"""Scoring benchmark: 1,000,000 student rows (100 courses x 10,000 students, resampled from the UCI Student
Performance data, a third at each stage of the term) scored by the champion model and written as report
files (CSV, JSON, HTML per course, indexed in the database).

    .venv/bin/python -m benchmarks.score [--rows N] [--courses N] [--workers N] [--data /path/to/uci] [--train-rows N]

Set-up (not timed): the production training procedure (``train_and_gate``) on the UCI data under a temporary
home, so the champion is loaded from MLflow like the report job loads it. Each course's report is made as the
``period_reports`` asset makes it: score the course, build the report, store its files. Timed twice: in one
process, and in ``--workers`` processes (default: one per core), as Dagster runs report partitions side by side
(``max_concurrent_runs``); a worker's start-up and model loading are inside the time. Baseline in the same run:
the model's probabilities alone for all rows, in one process, without explanations or files.
Target: under 20 s for a million rows.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import TARGET_MISSED, machine_note, peak_rss_mb, print_table

TARGET_SECONDS = 20.0
UCI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"
TODAY = date.today()
PERIOD_ID = "2026-autumn"


def students(uci: pd.DataFrame, rows: int, courses: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` students resampled from the UCI rows (with the course's grade scale), spread over ``courses``,
    a third at each stage of the term (no interim grade yet, the first, both), so every stage's model runs."""
    picked = uci.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    stage = np.arange(rows) % 3
    picked["interim_grade_1"] = picked["interim_grade_1"].mask(stage == 0)
    picked["interim_grade_2"] = picked["interim_grade_2"].mask(stage < 2)
    picked["user_id"] = [f"s{i:07d}" for i in range(rows)]
    picked["course_id"] = [f"course-{i % courses:03d}" for i in range(rows)]
    picked["period_id"] = PERIOD_ID
    return picked.drop(columns=[c for c in ("final_grade",) if c in picked])


class CourseReporter:
    """What the report job holds per process: the settings, the champion loaded from MLflow, the database."""

    def __init__(self, home: Path) -> None:
        from passcompass_assets.core.db.engine import get_engine
        from passcompass_assets.core.ml.loader import load_champion
        from passcompass_assets.core.settings import Settings

        self.settings = Settings(home=home)
        champion = load_champion(self.settings)
        if champion is None:
            raise SystemExit("no champion to score with")
        self.champion = champion
        self.engine = get_engine(self.settings.db_url)

    def report(self, course: pd.DataFrame) -> tuple[float, float]:
        """Score one course and store its report; returns (scoring, writing) seconds."""
        from passcompass_assets.core.periods import Period
        from passcompass_assets.core.reports.build import build_report
        from passcompass_assets.core.reports.store import store_report

        started = time.perf_counter()
        scored = self.champion.score(course)
        scoring = time.perf_counter() - started
        period = Period(PERIOD_ID, TODAY - timedelta(weeks=4), TODAY + timedelta(weeks=9), 3)
        report = build_report(
            scored.drop(columns=["course_id", "period_id"]),
            course_id=str(course["course_id"].iloc[0]),
            period=period,
            as_of=TODAY,
            model=self.champion.info,
            risk_high=self.settings.risk_high,
            risk_medium=self.settings.risk_medium,
        )
        store_report(self.engine, self.settings.reports_dir, report)
        return scoring, time.perf_counter() - started - scoring


_worker: CourseReporter | None = None


def _start_worker(home: Path) -> None:
    global _worker
    _worker = CourseReporter(home)


def _report_in_worker(course: pd.DataFrame) -> tuple[float, float]:
    assert _worker is not None
    return _worker.report(course)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--courses", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data", type=Path, default=UCI_DIR, help="folder with student-mat.csv and student-por.csv")
    parser.add_argument("--train-rows", type=int, help="train on this many UCI rows per course (default: all)")
    args = parser.parse_args(argv)
    if not (args.data / "student-mat.csv").exists():
        raise SystemExit(f"UCI Student Performance files not found in {args.data} (see ../shared/data/README.md)")

    from passcompass_assets.core.datasets.uci import load_uci_dir
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.ml.training import train_and_gate
    from passcompass_assets.core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="pc_score_") as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home)
        settings.ensure_dirs()
        upgrade(settings.db_url)
        uci = load_uci_dir(args.data)
        training = uci
        if args.train_rows:
            training = uci.groupby("course_id", group_keys=False).sample(n=args.train_rows, random_state=0)
        started = time.perf_counter()
        outcome = train_and_gate(training, settings, n_repeats=1)
        reporter = CourseReporter(home)
        print(f"champion v{reporter.champion.version} trained and loaded in {time.perf_counter() - started:.0f} s")
        print(f"(set-up, not timed; gate: {outcome.reason})")
        frame = students(uci, args.rows, args.courses)
        courses = [course for _, course in frame.groupby("course_id", sort=False)]

        started = time.perf_counter()
        reporter.champion.model.predict(frame, explain=False)
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        steps = np.array([reporter.report(course) for course in courses])
        one_process = time.perf_counter() - started
        written = sum(p.stat().st_size for p in settings.reports_dir.rglob("*") if p.is_file())

        started = time.perf_counter()
        with ProcessPoolExecutor(args.workers, initializer=_start_worker, initargs=(home,)) as pool:
            list(pool.map(_report_in_worker, courses))
        parallel = time.perf_counter() - started

    scoring, writing = steps.sum(axis=0)
    rows = args.rows
    print_table(
        f"Scoring {rows:,} students in {args.courses} courses and writing their reports (seconds)",
        ["step", "s", "rows/s", "x baseline"],
        [
            ["baseline: probabilities only, one process", baseline, rows / baseline, 1.0],
            ["one process: score (probability, grade, top factors)", scoring, rows / scoring, scoring / baseline],
            [f"one process: write reports (CSV, JSON, HTML: {written / 1e6:.0f} MB)", writing, rows / writing, None],
            ["one process: total", one_process, rows / one_process, one_process / baseline],
            [f"{args.workers} worker processes: total", parallel, rows / parallel, parallel / baseline],
        ],
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {peak_rss_mb():,.0f} MB (main), {children:,.0f} MB (largest worker); {machine_note()}")
    verdict = "met" if parallel < TARGET_SECONDS else "MISSED"
    print(f"target: scoring and report files under {TARGET_SECONDS:.0f} s: {verdict} ({parallel:.1f} s)")
    return 0 if parallel < TARGET_SECONDS else TARGET_MISSED


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
