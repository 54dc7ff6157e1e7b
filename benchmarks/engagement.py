"""Does the learning platform's activity help? Week-by-week AUC and Brier on a held-out term, with and without the
engagement features, on the demo's synthetic terms.

    .venv/bin/python -m benchmarks.engagement [--students 1000] [--database sqlite|postgres]

The data are synthetic: the demo's simulator (``core/datasets/demo.py``), whose activity log is driven by the same
latent weekly engagement as its snapshots' login counts. OULAD's click table (the real thing) could not be obtained
here, so these numbers say that the path works end to end and what it adds on such data, not what it adds at a
university.

Set-up: a fresh home and database; both demo terms (last term as the training term, the current one complete as
the held-out term) uploaded and applied, their activity logs counted through ``import_activity``. Rows: every
enrolled student of every course on each weekly date of both terms, as the platform reads them for a report
(``scoring_rows``: point in time, engagement from the days before). Fitted on last term with the platform's own
candidates (logistic regression, gradient boosting), judged on the current term week by week. Baseline in the same
run: the same models without the engagement features, and the naive predictor (last term's fail rate). Two arms
more leave out the snapshots' own learning-platform counts (``lms_logins``, ``lms_active_minutes``): a university
that sends its logs need not compute them, and on these data they carry the same signal as the logs.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from benchmarks._common import fresh_home, machine_note, print_table

TODAY = date(2026, 12, 4)  # the demo's terms around this day: reproducible numbers
MODELS = ("logistic", "gradient_boosting")


def prepare(home: Path, database_url: str, students: int) -> object:
    """Both demo terms stored and their activity counted; returns the demo manifest."""
    os.environ.update(PASSCOMPASS_HOME=str(home), PASSCOMPASS_DATABASE_URL=database_url)
    from passcompass_assets.core.activity.store import import_activity
    from passcompass_assets.core.courses import set_course
    from passcompass_assets.core.datasets.demo import generate_demo
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.landing import LandingStore
    from passcompass_assets.core.ingest.uploads import receive_upload
    from passcompass_assets.core.periods import Period, upsert_period
    from passcompass_assets.core.settings import Settings
    from passcompass_assets.instance import prepare_home

    settings = Settings()
    prepare_home(settings)
    engine, store = get_engine(database_url), LandingStore(settings.landing_dir)
    manifest = generate_demo(home / "demo", today=TODAY, students=students, complete_current=True)
    for period in manifest.periods:
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
        for course in manifest.courses:
            set_course(engine, course.course_id, period.period_id, manifest.grade_max, manifest.pass_mark)
    for demo_file in manifest.files:
        content = demo_file.path.read_bytes()  # the current term's grades come before its end: it is simulated whole
        receipt = receive_upload(engine, store, content, kind=demo_file.kind, source="demo", confirm_before_end=True)
        apply_upload(engine, store, receipt.upload_id, grade_max=manifest.grade_max, pass_mark=manifest.pass_mark)
    for demo_file in manifest.activity:
        with demo_file.path.open("rb") as log:
            import_activity(engine, log, "generic")
    return manifest


def weekly_rows(database_url: str, manifest: object) -> dict[str, pd.DataFrame]:
    """Per term: every student of every course on each weekly date, as a report reads them, with the label."""
    from passcompass_assets.core.datasets.demo import WEEKS, final_grades_for
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.periods import Period
    from passcompass_assets.core.records import scoring_rows

    engine = get_engine(database_url)
    terms = {}
    for period in manifest.periods:  # type: ignore[attr-defined]
        declared = Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks)
        frames = [
            scoring_rows(engine, course.course_id, declared, period.week_end(week)).assign(week=week)
            for course in manifest.courses  # type: ignore[attr-defined]
            for week in range(1, WEEKS + 1)
        ]
        grades = pd.read_csv(
            pd.io.common.BytesIO(
                final_grades_for(period.period_id, today=TODAY, students=manifest.students)  # type: ignore[attr-defined]
            ),
            dtype={"user_id": str},
        )
        with warnings.catch_warnings():  # early weeks' all-empty columns (no interim grade yet)
            warnings.simplefilter("ignore", FutureWarning)
            rows = pd.concat(frames, ignore_index=True).merge(grades, on=["user_id", "course_id", "period_id"])
        terms[period.period_id] = rows
    return terms


# Which inputs each arm leaves out: the snapshots' own learning-platform counts (what a university that sends
# its logs would no longer compute itself), the engagement features, or both.
LMS_COUNTS = ("lms_logins", "lms_active_minutes")
ARMS = {
    "snapshots": ("activity",),
    "snapshots + activity": (),
    "no LMS counts": ("activity", "lms"),
    "activity for LMS counts": ("lms",),
}


Scores = dict[str, dict[int, tuple[float, float]]]  # model -> week -> (AUC, Brier)


def evaluate(train: pd.DataFrame, test: pd.DataFrame, left_out: tuple[str, ...]) -> Scores:
    """Per model, per week of the held-out term: (AUC, Brier)."""
    from passcompass_assets.core.catalog import ACTIVITY_FEATURES, load_catalog
    from passcompass_assets.core.ml.features import COURSE, fail_label, model_frame
    from passcompass_assets.core.ml.pipeline import build_classifier
    from passcompass_assets.core.records import TERM_WEEK

    dropped = set(ACTIVITY_FEATURES if "activity" in left_out else ()) | set(LMS_COUNTS if "lms" in left_out else ())
    names = [c.name for c in load_catalog().inputs if c.name not in dropped] + [TERM_WEEK, COURSE]
    columns = [n for n in names if n in train and train[n].dropna().nunique() > 1]
    results: Scores = {}
    for name in MODELS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_classifier(name, columns).fit(model_frame(train, columns), fail_label(train))
            probability = model.predict_proba(model_frame(test, columns))[:, 1]
        fail = fail_label(test)
        results[name] = {
            int(week): (roc_auc_score(fail[at], probability[at]), brier_score_loss(fail[at], probability[at]))
            for week in sorted(test["week"].unique())
            for at in [np.flatnonzero(test["week"].to_numpy() == week)]
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with fresh_home(args.database, "pc_engagement") as (home, database_url):
        manifest = prepare(home, database_url, args.students)
        terms = weekly_rows(database_url, manifest)
    past, current = (terms[p.period_id] for p in manifest.periods)  # type: ignore[attr-defined]
    results = {arm: evaluate(past, current, left_out) for arm, left_out in ARMS.items()}
    enrolments = past.drop_duplicates(["user_id", "course_id"])
    naive = float((enrolments["final_grade"] < enrolments["pass_mark"]).mean())
    fail = (current["final_grade"] < current["pass_mark"]).to_numpy(dtype=float)
    for name in MODELS:
        rows = []
        for week in sorted(current["week"].unique()):
            at = current["week"].to_numpy() == week
            scores = [results[arm][name][int(week)] for arm in ARMS]
            naive_brier = brier_score_loss(fail[at], np.full(int(at.sum()), naive))
            rows.append([int(week), *(s[0] for s in scores), *(s[1] for s in scores), naive_brier])
        print_table(
            f"{name}, trained on last term, judged on the current one week by week ({args.students} students, "
            f"{len(current)} held-out rows): AUC, then Brier, per set of inputs",
            ["week", *(f"AUC {arm}" for arm in ARMS), *(f"Brier {arm}" for arm in ARMS), "naive Brier"],
            rows,
        )
        for arm in ARMS:
            auc = np.mean([results[arm][name][w][0] for w in results[arm][name]])
            brier = np.mean([results[arm][name][w][1] for w in results[arm][name]])
            print(f"  {name}, {arm}: mean weekly AUC {auc:.3f}, Brier {brier:.3f}")
    print(f"synthetic data (the demo's simulator), not a university's; {time.perf_counter() - started:.0f} s")
    print(machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
