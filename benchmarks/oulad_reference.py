"""Reference early-warning quality on OULAD, measured directly with scikit-learn (no PassCompass code).

Protocol: train on the past presentations 2013B, 2013J and 2014B, test on 2014J. For each report week (3, 6, 9,
... up to the last full week of 2014J's period, plus the period's last day) both sides use their snapshot at the
same cutoff day (:mod:`benchmarks.oulad_data`), restricted to the students still enrolled then. The label is "not
passing": final result Fail or Withdrawn, also for a student who withdraws after the cutoff.

Models: (a) logistic regression on median-imputed (with missing-value indicators), standardised features and
(b) gradient boosting (scikit-learn defaults, fixed seed); the course (module) one-hot in both. The demographic
audit columns are never inputs. The naive predictor is "low mean score so far": ``1 - weighted_mean_score / 100``,
and the training set's not-passing rate for a student without a score yet; monotone in the score, no fitting.

    python -m benchmarks.oulad_reference [--data DIR] [--weeks 4,8,12,16] [--modules BBB,DDD] [--students N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks.oulad_data import (
    FEATURE_COLUMNS,
    PASS_MARK,
    OuladTables,
    enrolled_at,
    final_results,
    load_oulad,
    period_length,
    presentation_start,
    snapshots_at,
    subset,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"
TRAIN_PRESENTATIONS = ("2013B", "2013J", "2014B")
TEST_PRESENTATION = "2014J"
NUMERIC_FEATURES = FEATURE_COLUMNS
CATEGORICAL_FEATURES = ("course_id",)
HIGH_BAND = 0.5  # p >= HIGH_BAND is the "high" risk band
SEED = 0


def report_cutoffs(tables: OuladTables, weeks: Iterable[int] | None = None) -> list[tuple[float, int]]:
    """(week, cutoff day) pairs to report on: every third full week of the test period and its last day.

    Given ``weeks``, exactly those weeks (no last day), e.g. to compare with results published for weeks 4, 8, ...
    """
    if weeks is not None:
        return [(float(w), 7 * int(w)) for w in weeks]
    length = period_length(tables, TEST_PRESENTATION)
    cutoffs = [(float(w), 7 * w) for w in range(3, length // 7 + 1, 3)]
    if cutoffs[-1][1] != length:
        cutoffs.append((round(length / 7, 1), length))
    return cutoffs


def labelled_snapshots(tables: OuladTables, presentation: str, cutoff_days: list[int]) -> pd.DataFrame:
    """Snapshots of the students enrolled at each cutoff, with ``day`` and the label ``not_passing``."""
    frame = snapshots_at(tables, presentation, cutoff_days)
    frame["day"] = (pd.to_datetime(frame["as_of_date"]) - pd.Timestamp(presentation_start(presentation))).dt.days
    frame = frame[enrolled_at(frame)]
    results = final_results(tables, presentation)
    frame = frame.merge(results, on=["user_id", "course_id", "period_id"], how="left", validate="many_to_one")
    frame["not_passing"] = (frame["final_grade"] < PASS_MARK).astype(int)
    return frame


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model inputs: numeric features as floats (NaN for missing) and the course."""
    inputs = frame[list(NUMERIC_FEATURES)].astype(float)
    for column in CATEGORICAL_FEATURES:
        inputs[column] = frame[column].astype(str)
    return inputs


def logistic_model() -> Pipeline:
    """Logistic regression on median-imputed, standardised features (indicators keep "no score yet" visible)."""
    numeric = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()
    )
    prep = ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            ("course", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        ]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=2000))


def boosting_model() -> Pipeline:
    """Gradient boosting with scikit-learn defaults; it handles missing values itself."""
    prep = ColumnTransformer(
        [
            ("numeric", "passthrough", list(NUMERIC_FEATURES)),
            ("course", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL_FEATURES)),
        ]
    )
    return make_pipeline(prep, HistGradientBoostingClassifier(random_state=SEED))


def naive_probability(frame: pd.DataFrame, fallback: float) -> np.ndarray:
    """Low mean score so far means risk: ``1 - score / 100``; no score yet gets ``fallback``."""
    score = frame["weighted_mean_score"].astype(float).to_numpy()
    return np.where(np.isnan(score), fallback, 1 - score / 100)


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC and Brier of probabilities ``p`` for labels ``y``."""
    return {
        "auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
    }


def evaluate_cutoff(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float | int | str]:
    """Fit both models on ``train`` and score them and the naive predictor on ``test`` (one cutoff)."""
    x_train, y_train = features(train), train["not_passing"].to_numpy()
    x_test, y_test = features(test), test["not_passing"].to_numpy()
    row: dict[str, float | int | str] = {"students": len(test), "prevalence": float(y_test.mean())}
    probabilities = {}
    for name, model in (("lr", logistic_model()), ("hgb", boosting_model())):
        probabilities[name] = model.fit(x_train, y_train).predict_proba(x_test)[:, 1]
        row.update({f"{name}_{k}": v for k, v in _scores(y_test, probabilities[name]).items()})
    naive = _scores(y_test, naive_probability(test, float(y_train.mean())))
    row.update({"naive_auc": naive["auc"], "naive_brier": naive["brier"]})
    best = max(("lr", "hgb"), key=lambda name: row[f"{name}_auc"])
    high = probabilities[best] >= HIGH_BAND
    row.update(
        {
            "best": best,
            "high_share": float(high.mean()),
            "high_precision": precision_score(y_test, high, zero_division=0),
            "high_recall": recall_score(y_test, high, zero_division=0),
        }
    )
    return row


def reference_table(tables: OuladTables, weeks: Iterable[int] | None = None) -> list[dict]:
    """One row per report cutoff: {week, day, students, prevalence, lr_*, hgb_*, naive_*, best, high_*}.

    ``weeks=None`` reports every third week of 2014J and its last day (see :func:`report_cutoffs`).
    """
    cutoffs = report_cutoffs(tables, weeks)
    days = [day for _, day in cutoffs]
    train = pd.concat([labelled_snapshots(tables, p, days) for p in TRAIN_PRESENTATIONS], ignore_index=True)
    test = labelled_snapshots(tables, TEST_PRESENTATION, days)
    rows = []
    for week, day in cutoffs:
        row = {"week": int(week) if week.is_integer() else week, "day": day}
        row.update(evaluate_cutoff(train[train["day"] == day], test[test["day"] == day]))
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The table as Markdown, three decimals for the metrics."""
    columns = [
        "week",
        "day",
        "students",
        "prevalence",
        "lr_auc",
        "lr_pr_auc",
        "lr_brier",
        "hgb_auc",
        "hgb_pr_auc",
        "hgb_brier",
        "naive_auc",
        "naive_brier",
        "best",
        "high_share",
        "high_precision",
        "high_recall",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" ---: " for _ in columns) + "|"]
    for row in rows:
        cells = [f"{row[c]:.3f}" if isinstance(row[c], float) and c != "week" else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory holding the OULAD CSV files")
    parser.add_argument("--weeks", help="comma-separated report weeks instead of every third week, e.g. 4,8,12,16")
    parser.add_argument("--modules", help="comma-separated modules, e.g. BBB (default: all seven)")
    parser.add_argument("--students", type=int, help="at most this many students per module presentation")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tables = load_oulad(args.data)
    if args.modules or args.students:
        tables = subset(tables, args.modules.split(",") if args.modules else None, args.students)
    weeks = [int(w) for w in args.weeks.split(",")] if args.weeks else None
    rows = reference_table(tables, weeks)
    print(f"OULAD reference: train {', '.join(TRAIN_PRESENTATIONS)} -> test {TEST_PRESENTATION}, label not passing")
    print(markdown(rows))
    print(f"\nwall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
