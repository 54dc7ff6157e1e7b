"""Scoring benchmark: 1,000,000 student rows (100 courses x 10,000 students, resampled from the UCI Student
Performance data) scored by the champion model and written as report files (CSV, JSON, HTML per course).

    .venv/bin/python -m benchmarks.score [--rows N] [--courses N] [--data /path/to/uci]

Set-up (not timed): the production training procedure (``train_and_gate``) on the UCI data under a temporary
home, so the champion is loaded from MLflow like the report job loads it. Baseline in the same run: the same
model's probabilities alone, without explanations or files. Target: under 20 s for a million rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import machine_note, peak_rss_mb, print_table

TARGET_SECONDS = 20.0
UCI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"


def students(uci: pd.DataFrame, rows: int, courses: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` students resampled from the UCI rows (with the course's grade scale), spread over ``courses``."""
    picked = uci.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    picked["user_id"] = [f"s{i:07d}" for i in range(rows)]
    picked["course_id"] = [f"course-{i % courses:03d}" for i in range(rows)]
    picked["period_id"] = "2026-autumn"
    return picked.drop(columns=[c for c in ("final_grade",) if c in picked])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--courses", type=int, default=100)
    parser.add_argument("--data", type=Path, default=UCI_DIR, help="folder with student-mat.csv and student-por.csv")
    args = parser.parse_args(argv)

    from passcompass_assets.core.db import get_engine
    from passcompass_assets.core.migrate import upgrade
    from passcompass_assets.core.ml.tracking import load_champion
    from passcompass_assets.core.ml.training import score, train_and_gate
    from passcompass_assets.core.periods import Period
    from passcompass_assets.core.reporting import build_report, store_report
    from passcompass_assets.core.settings import Settings
    from passcompass_assets.core.uci import load_uci_dir

    with tempfile.TemporaryDirectory(prefix="pc_score_") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        settings.ensure_dirs()
        upgrade(settings.db_url)
        engine = get_engine(settings.db_url)
        uci = load_uci_dir(args.data)
        started = time.perf_counter()
        outcome = train_and_gate(uci, settings, n_repeats=1)
        champion = load_champion(settings)
        if champion is None:
            raise SystemExit(f"no champion after training: {outcome.reason}")
        print(f"champion v{champion.version} trained and loaded in {time.perf_counter() - started:.0f} s (set-up)")
        frame = students(uci, args.rows, args.courses)
        today = date.today()
        period = Period("2026-autumn", today - timedelta(weeks=4), today + timedelta(weeks=9), 3)
        info = {"version": champion.version, "metrics": {}, "gate": outcome.reason, "promoted": True}

        # Baseline: the probabilities alone (no explanations, no files).
        started = time.perf_counter()
        champion.model.predict(frame, explain=False)
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        scored = score(frame, champion)
        scoring = time.perf_counter() - started
        started = time.perf_counter()
        for course_id, course in scored.groupby("course_id", sort=False):
            report = build_report(
                course.drop(columns=["course_id", "period_id"]),
                course_id=str(course_id),
                period=period,
                as_of=today,
                model=info,
                risk_high=settings.risk_high,
                risk_medium=settings.risk_medium,
            )
            store_report(engine, settings.reports_dir, report)
        writing = time.perf_counter() - started
        written = sum(p.stat().st_size for p in settings.reports_dir.rglob("*") if p.is_file())

    total = scoring + writing
    print_table(
        f"Scoring {args.rows:,} students in {args.courses} courses with the champion (seconds)",
        ["step", "s", "rows/s", "x baseline"],
        [
            ["probabilities only (baseline)", baseline, args.rows / baseline, 1.0],
            ["score: probabilities, grades, top factors", scoring, args.rows / scoring, scoring / baseline],
            [
                f"write {args.courses} reports (CSV, JSON, HTML: {written / 1e6:.0f} MB)",
                writing,
                args.rows / writing,
                float("nan"),
            ],
            ["total", total, args.rows / total, total / baseline],
        ],
    )
    print(f"peak memory: {peak_rss_mb():,.0f} MB; machine: {machine_note()}")
    verdict = "met" if total < TARGET_SECONDS else "MISSED"
    print(f"target: scoring and report files under {TARGET_SECONDS:.0f} s: {verdict} ({total:.1f} s)")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
