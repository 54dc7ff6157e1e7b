"""The week-by-week benchmark on real data: OULAD replayed through the platform as a university would use it.

    python -m benchmarks.oulad [--data DIR] [--json FILE] [--database sqlite|postgres]
        [--modules BBB,DDD] [--students N] [--weeks N]

Each module presentation is a course, each presentation a period (dates: ``benchmarks/oulad_data.py``), with the
institution catalog ``benchmarks/oulad_catalog.yaml`` (assessment features as model inputs, demographics as audit
columns). Through the real API: the past presentations 2013B, 2013J and 2014B as history files (every weekly
snapshot of a module in one upload) and their final results; the model trained and gated; then 2014J week by week,
a snapshot upload each week and a report per course on each cadence date (every 3 weeks, and the last day); then
its final results, and ``report_evaluation``. Printed per report week: the reports' AUC, PR-AUC, Brier, and the
high band's precision and recall against the real outcomes (Fail or Withdrawn = not passing), beside a reference
fitted in the same run directly with scikit-learn on the same weekly features (``benchmarks/oulad_reference.py``:
logistic regression and gradient boosting) and a naive predictor (low mean score so far).

``--modules``, ``--students`` (per module presentation) and ``--weeks`` (of 2014J) replay a part of it, for a quick
check; the published figures are of every module, student and week.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from benchmarks._common import ApiServer, fresh_home, machine_note, peak_rss_mb, print_table
from benchmarks.oulad_data import (
    GRADE_MAX,
    PASS_MARK,
    OuladTables,
    final_results,
    load_oulad,
    period_dates,
    period_length,
    subset,
    to_csv_bytes,
    weekly_snapshots,
)
from benchmarks.oulad_reference import DEFAULT_DATA, TEST_PRESENTATION, TRAIN_PRESENTATIONS, reference_table

CATALOG = Path(__file__).with_name("oulad_catalog.yaml")
CADENCE_WEEKS = 3
HIGH_RISK = 0.5  # the default high band (PASSCOMPASS_RISK_HIGH)


class Replay:
    """The platform under test: its API over HTTP for uploads and settings, its jobs in process for the rest."""

    def __init__(self, home: Path, database_url: str, api: ApiServer, token: str) -> None:
        from passcompass_assets.core.settings import Settings

        self.settings = Settings(home=home, database_url=database_url)
        self.api = api
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timings: dict[str, float] = {}
        # How much each step raised this process's peak memory (MB): the high-water mark before it vs after it.
        self.raised: dict[str, float] = {}
        self.model_card: tuple[dict[str, object], str] | None = None

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        """Time a step, and count how far it raised the peak (what ran between steps is not counted)."""
        before, started = peak_rss_mb(), time.perf_counter()
        yield
        self.timings[what] = self.timings.get(what, 0.0) + time.perf_counter() - started
        self.raised[what] = self.raised.get(what, 0.0) + peak_rss_mb() - before

    def put(self, path: str, body: dict[str, object]) -> None:
        response = httpx.put(f"{self.api.url}{path}", json=body, headers=self.headers, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"PUT {path}: {response.status_code} {response.text[:500]}")

    def upload(self, content: bytes, kind: str = "students") -> None:
        endpoint = "final-grades" if kind == "final_grades" else "uploads"
        files = {"file": (f"{kind}.csv", content, "text/csv")}
        with self._step("upload (API)"):
            response = httpx.post(f"{self.api.url}/api/v1/{endpoint}", files=files, headers=self.headers, timeout=300)
        if response.status_code not in (200, 202):
            raise RuntimeError(f"upload: {response.status_code} {response.text[:500]}")

    def card(self) -> tuple[dict[str, object], str]:
        """The champion's model card, as JSON and as the page the API serves."""
        url = f"{self.api.url}/api/v1/models/champion/card"
        card = httpx.get(url, params={"format": "json"}, headers=self.headers, timeout=60)
        page = httpx.get(url, headers=self.headers, timeout=60)
        if card.status_code != 200 or page.status_code != 200:
            raise RuntimeError(f"model card: {card.status_code} {page.status_code}")
        return card.json(), page.text

    def ingest(self) -> None:
        from passcompass_assets.operations import process_pending

        with self._step("ingest (jobs)"):
            failed = [u.upload_id for u in process_pending(self.settings) if u.status != "processed"]
        if failed:
            raise RuntimeError(f"uploads failed: {failed}")

    def train(self) -> dict[str, object]:
        from passcompass_assets.operations import train

        with self._step("train (dbt + model + gate)"):
            outcome = train(self.settings)
        model = outcome.metadata.get("fail_risk_model")
        if not outcome.success or not isinstance(model, dict):
            raise RuntimeError("the training run failed: see the Dagster log above")
        return model

    def report_day(self, course_ids: list[str], day: pd.Timestamp) -> list[Path]:
        """Every course's report of a cadence date, made in one batch (one run), as the report sensor makes them."""
        from passcompass_assets.operations import report_day

        with self._step("reports (drift + score + files)"):
            records = report_day(self.settings, TEST_PRESENTATION, day.date(), course_ids)
        return [record.file(self.settings.reports_dir, "json") for record in records]

    def evaluate(self, course_id: str) -> None:
        from passcompass_assets.operations import evaluate

        with self._step("evaluations"):
            evaluate(self.settings, course_id, TEST_PRESENTATION)


def _admin_token(database_url: str) -> str:
    from passcompass_assets.core.access.tokens import create_token
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import ensure_schema

    ensure_schema(database_url)
    return create_token(get_engine(database_url), "admin", label="oulad benchmark").token


def replay(
    tables: OuladTables, home: Path, database_url: str, live_weeks: int | None = None
) -> tuple[pd.DataFrame, dict[str, object], Replay]:
    """Run the replay (the first ``live_weeks`` of 2014J, default all); returns every report row of 2014J with its
    report week and the real outcome."""
    dates = period_dates(tables)
    with ApiServer(home, database_url) as api:
        platform = Replay(home, database_url, api, _admin_token(database_url))
        for period_id, (start, end) in dates.items():
            body = {"start_date": start.isoformat(), "end_date": end.isoformat(), "cadence_weeks": CADENCE_WEEKS}
            platform.put(f"/api/v1/periods/{period_id}", body)
        modules = {
            presentation: sorted(tables.courses.loc[tables.courses["code_presentation"] == presentation, "code_module"])
            for presentation in (*TRAIN_PRESENTATIONS, TEST_PRESENTATION)
        }
        for presentation, courses in modules.items():
            for module in courses:
                body = {"period_id": presentation, "grade_max": GRADE_MAX, "pass_mark": PASS_MARK}
                platform.put(f"/api/v1/courses/{module}", body)

        # History: each past presentation's weekly snapshots, one file per module, then its final results.
        for presentation in TRAIN_PRESENTATIONS:
            weeks = range(1, period_length(tables, presentation) // 7 + 1)
            history = weekly_snapshots(tables, presentation, weeks)
            for _, module in history.groupby("course_id"):
                platform.upload(to_csv_bytes(module))
            platform.upload(to_csv_bytes(final_results(tables, presentation)), "final_grades")
        platform.ingest()
        gate = platform.train()

        # The live term, week by week; a report per course on every cadence date.
        start, end = dates[TEST_PRESENTATION]
        report_days = {
            start + pd.Timedelta(weeks=w) for w in range(CADENCE_WEEKS, (end - start).days // 7 + 1, CADENCE_WEEKS)
        } | {pd.Timestamp(end).date()}
        last_week = (end - start).days // 7 + 1
        rows = []
        for week in range(1, min(last_week, live_weeks or last_week) + 1):
            day = min(start + pd.Timedelta(weeks=week), end)
            snapshot = weekly_snapshots(tables, TEST_PRESENTATION, [week])
            snapshot = snapshot[pd.to_datetime(snapshot["as_of_date"]).dt.date <= end]
            if not snapshot.empty:
                platform.upload(to_csv_bytes(snapshot))
                platform.ingest()
            due = sorted(d for d in report_days if start + pd.Timedelta(weeks=week - 1) < d <= day)
            for report_day in due:
                for path in platform.report_day(modules[TEST_PRESENTATION], pd.Timestamp(report_day)):
                    report = json.loads(path.read_text())
                    frame = pd.DataFrame(report["rows"]).assign(week=round((report_day - start).days / 7, 1))
                    rows.append(frame)
        outcomes = final_results(tables, TEST_PRESENTATION)
        platform.upload(to_csv_bytes(outcomes), "final_grades")
        platform.ingest()
        for course_id in sorted(outcomes["course_id"].unique()):
            platform.evaluate(course_id)
        platform.model_card = platform.card()
    reported = pd.concat(rows, ignore_index=True).merge(
        outcomes, on=["user_id", "course_id", "period_id"], how="left", validate="many_to_one"
    )
    reported["not_passing"] = (reported["final_grade"] < PASS_MARK).astype(int)
    return reported, gate, platform


def week_table(reported: pd.DataFrame, reference: list[dict]) -> list[dict[str, object]]:
    by_week = {float(r["week"]): r for r in reference}
    table = []
    for week, rows in reported.groupby("week"):
        y = rows["not_passing"].to_numpy()
        p = rows["fail_probability"].to_numpy(dtype=float)
        high = rows["risk_band"].to_numpy() == "high"
        ref = by_week.get(float(week), {})
        best = "hgb" if ref.get("hgb_auc", 0) >= ref.get("lr_auc", 0) else "lr"
        table.append(
            {
                "week": float(week),
                "students": len(rows),
                "auc": round(float(roc_auc_score(y, p)), 4),
                "pr_auc": round(float(average_precision_score(y, p)), 4),
                "brier": round(float(brier_score_loss(y, p)), 4),
                "high_precision": round(float(y[high].mean()), 4) if high.any() else None,
                "high_recall": round(float(high[y == 1].mean()), 4),
                "reference_auc": ref.get(f"{best}_auc"),
                "reference_brier": min(ref.get("lr_brier", np.inf), ref.get("hgb_brier", np.inf)),
                "reference_lr_auc": ref.get("lr_auc"),
                "reference_hgb_auc": ref.get("hgb_auc"),
                "naive_auc": ref.get("naive_auc"),
                "naive_brier": ref.get("naive_brier"),
            }
        )
    return table


FAIRNESS_ATTRIBUTES = ("student_gender", "age_band", "disability")


def fairness_table(reported: pd.DataFrame, tables: OuladTables, weeks: tuple[float, float]) -> list[list[object]]:
    """The platform's fairness audit (``core/ml/fairness.py``) of the reports between ``weeks``, pooled over the
    modules: per group, students, fail rate, flag rate, high-band recall and precision, Brier, with 90 % intervals;
    and ABROCA per attribute."""
    from passcompass_assets.core.ml.fairness import audit

    info = tables.student_info.assign(user_id=tables.student_info["id_student"].astype(str))
    info = info.rename(
        columns={"gender": "student_gender", "code_module": "course_id", "code_presentation": "period_id"}
    )
    chosen = reported[reported["week"].between(*weeks)]
    frame = chosen.merge(
        info[["user_id", "course_id", "period_id", *FAIRNESS_ATTRIBUTES]],
        on=["user_id", "course_id", "period_id"],
        how="left",
        validate="many_to_one",
    ).assign(
        fail=lambda f: f["not_passing"],
        probability=lambda f: f["fail_probability"].astype(float),
        student=lambda f: f["user_id"].astype(str) + "|" + f["course_id"].astype(str),
    )
    result = audit(frame.dropna(subset=["probability"]), list(FAIRNESS_ATTRIBUTES), high_risk=HIGH_RISK)

    def cell(group: object, metric: str) -> str:
        value = group.values.get(metric)  # type: ignore[attr-defined]
        interval = group.intervals.get(metric)  # type: ignore[attr-defined]
        if value is None:
            return "-"
        return f"{value:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")

    rows: list[list[object]] = []
    for attribute in result.attributes:
        for group in attribute.groups:
            if not group.reported:
                rows.append([attribute.attribute, group.group, group.students, "too few", "", "", "", "", ""])
                continue
            metrics = ("fail_rate", "flag_rate", "high_recall", "high_precision", "brier")
            rows.append([attribute.attribute, group.group, group.students, *(cell(group, m) for m in metrics), ""])
        abroca = "-" if attribute.abroca is None else f"{attribute.abroca:.3f} (p {attribute.abroca_p:.2f})"
        rows.append([attribute.attribute, "ABROCA", "", "", "", "", "", "", abroca])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="write the per-week table here")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--card", type=Path, help="write the champion's model card (HTML) here")
    parser.add_argument("--modules", help="comma-separated modules to replay, e.g. BBB (default: all seven)")
    parser.add_argument("--students", type=int, help="at most this many students per module presentation")
    parser.add_argument("--weeks", type=int, help="replay only the first N weeks of 2014J")
    args = parser.parse_args(argv)
    if not (args.data / "studentInfo.csv").exists():
        raise SystemExit(f"OULAD tables not found in {args.data} (see ../shared/data/README.md)")
    os.environ["PASSCOMPASS_CATALOG"] = str(CATALOG)
    os.environ["PASSCOMPASS_INITIAL_DATA"] = "none"
    started = time.perf_counter()
    tables = load_oulad(args.data)
    if args.modules or args.students:
        tables = subset(tables, args.modules.split(",") if args.modules else None, args.students)
    reference_started = time.perf_counter()
    # The reference at the report weeks the replay reaches (every cadence week and the last day when it is whole).
    reference_weeks = range(CADENCE_WEEKS, args.weeks + 1, CADENCE_WEEKS) if args.weeks else None
    reference = reference_table(tables, reference_weeks)
    reference_seconds = time.perf_counter() - reference_started
    with fresh_home(args.database, "pc_oulad") as (home, database_url):
        os.environ["PASSCOMPASS_HOME"] = str(home)
        os.environ["PASSCOMPASS_DATABASE_URL"] = database_url
        os.environ["DAGSTER_HOME"] = str(home / "dagster")
        reported, gate, platform = replay(tables, home, database_url, args.weeks)
    table = week_table(reported, reference)
    total = time.perf_counter() - started
    print(f"\nOULAD replay on {args.database}: {machine_note()}")
    print(f"gate: {'promoted' if gate.get('promoted') else 'not promoted'}: {str(gate.get('reason'))[:600]}")
    header = ["week", "students", "AUC", "PR-AUC", "Brier", "high prec.", "high recall", "ref. AUC (best)",
              "ref. Brier (best)", "LR AUC", "HGB AUC", "naive AUC", "naive Brier"]  # fmt: skip
    print_table(
        "Reports of 2014J against the real outcomes, beside a direct scikit-learn fit on the same weekly features",
        header,
        [list(row.values()) for row in table],
    )
    fairness_header = ["attribute", "group", "rows", "fail rate", "flag rate", "high recall", "high precision",
                       "Brier", "ABROCA"]  # fmt: skip
    fairness = {}
    for name, weeks in (("weeks 3-9", (3.0, 9.0)), ("the whole term", (0.0, 99.0))):
        fairness[name] = fairness_table(reported, tables, weeks)
        print_table(f"By group, reports of {name} (90 % bootstrap intervals over students)", fairness_header,
                    fairness[name])  # fmt: skip
    if platform.model_card is not None:
        card, page = platform.model_card
        print(f"\nmodel card of version {card.get('version')}: {len(page):,} characters; sections: {', '.join(card)}")
        if args.card:
            args.card.write_text(page)
            print(f"written to {args.card}")
    timings = {**platform.timings, "reference fit (both models, every week)": reference_seconds, "total": total}
    print_table(
        "Where the time went (s), and how much each step raised this process's peak memory (MB)",
        ["step", "seconds", "raised peak by"],
        [[k, round(v, 1), round(platform.raised[k]) if k in platform.raised else "-"] for k, v in timings.items()],
    )
    print(f"peak memory {peak_rss_mb():.0f} MB (this process; the API server is a separate one)")
    if args.json:
        raised = platform.raised
        document = {"weeks": table, "timings": timings, "raised_peak_mb": raised, "gate": gate, "fairness": fairness}
        args.json.write_text(json.dumps(document, indent=1, default=str))


if __name__ == "__main__":
    main()
