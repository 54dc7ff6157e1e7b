"""Fit the model stage by stage: cross-validate every candidate and the naive predictor on the same folds,
choose, refit on all of the stage's rows. No MLflow here: :mod:`training` adds the gate and the logging."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from passcompass_assets.core.ml.cross_validation import (
    StageData,
    StageEvaluation,
    evaluate_stage,
    make_folds,
    stage_data,
)
from passcompass_assets.core.ml.explain import Typical, typical_values, wording_of
from passcompass_assets.core.ml.features import SCALE_COLUMNS, fail_label, usable_columns
from passcompass_assets.core.ml.model import FailRiskModel, StageModel
from passcompass_assets.core.ml.pipeline import SEED, build_classifier, build_regressor
from passcompass_assets.core.ml.stages import STAGES, Stage, rows_supporting
from passcompass_assets.core.records import TERM_WEEK

N_SPLITS = 5
MIN_ROWS = 30  # labelled students a stage needs before it is trained
MIN_PER_CLASS = 5  # failing and passing students each, so every fold sees both
# Candidates are compared on at most this many rows (whole students drawn at random): the ranking is as clear as on
# all of them, and a term's weekly rows of thousands of students cost minutes otherwise. The refit uses every row.
MAX_SELECTION_ROWS = 40_000
# Around each report week, the rows this close (in weeks) train its own fit; it needs this many rows. Training
# rows sit on cadence dates (two weeks apart at the least), so this is the rows of that very week, as the report
# that uses it will be.
WEEK_WINDOW = 1.5
MIN_WEEK_ROWS = 200


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the training data in a canonical order (columns sorted, rows sorted by key)."""
    columns = sorted(frame.columns)
    keys = [c for c in ("course_id", "period_id", "user_id") if c in frame.columns]
    canonical = frame[columns].sort_values(keys, kind="stable") if keys else frame[columns]
    return hashlib.sha256(canonical.to_csv(index=False).encode("utf-8")).hexdigest()


def labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a final grade and a grade scale; the model learns from nothing else."""
    missing = [c for c in ("user_id", "course_id", "final_grade", *SCALE_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot train: the frame lacks {', '.join(missing)}")
    known = frame["final_grade"].notna() & frame["grade_max"].notna() & frame["pass_mark"].notna()
    return frame[known].reset_index(drop=True)


def _too_little(rows: pd.DataFrame, columns: list[str]) -> str | None:
    if rows.empty:
        return "no labelled student has this stage's data"
    failing = int(fail_label(rows).sum())
    passing = len(rows) - failing
    if len(rows) < MIN_ROWS or min(failing, passing) < MIN_PER_CLASS:
        return (
            f"too few labelled students ({len(rows)}: {failing} failing, {passing} passing; "
            f"needs {MIN_ROWS} with at least {MIN_PER_CLASS} of each)"
        )
    if not columns:
        return "no input column carries information at this stage"
    return None


def student_groups(frame: pd.DataFrame) -> np.ndarray | None:
    """One group per student and course period: the rows a student has at several report dates."""
    if "report_date" not in frame.columns:
        return None
    return pd.factorize(frame["user_id"].astype(str) + "|" + frame["course_id"].astype(str) + "|"
                        + frame["period_id"].astype(str))[0]  # fmt: skip


def _selection_rows(frame: pd.DataFrame, limit: int = MAX_SELECTION_ROWS) -> np.ndarray | None:
    """Positions of whole students drawn at random to compare candidates on, when there are more rows than
    ``limit``; None to use every row."""
    if len(frame) <= limit:
        return None
    groups = student_groups(frame)
    if groups is None:
        return np.sort(np.random.default_rng(SEED).choice(len(frame), limit, replace=False))
    keep_share = limit / len(frame)
    kept = np.random.default_rng(SEED).random(int(groups.max()) + 1) < keep_share
    return np.flatnonzero(kept[groups])


def fit_stage(data: StageData, evaluation: StageEvaluation) -> StageModel:
    """The chosen classifier and regressor refitted on all of the stage's rows."""
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        classifier = build_classifier(evaluation.classifier, data.columns).fit(data.inputs, data.fail)
        regressor = build_regressor(evaluation.regressor, data.columns).fit(data.inputs, data.share)
        by_week = _classifiers_by_week(data, evaluation.classifier)
    return StageModel(
        stage=data.stage.name,
        columns=data.columns,
        classifier_name=evaluation.classifier,
        regressor_name=evaluation.regressor,
        classifier=classifier,
        regressor=regressor,
        typical=typical_values(data.inputs, data.columns),
        typical_by_week=_typical_by_week(data),
        classifiers_by_week=by_week,
        wording=wording_of(data.inputs, data.fail, data.columns),
    )


def _classifiers_by_week(data: StageData, name: str) -> dict[int, BaseEstimator]:
    """The chosen candidate fitted again around each report week of the training rows (the rows within
    :data:`WEEK_WINDOW` of it): how inputs relate to failing changes through a term (a week-3 quiz average is
    a weaker sign than a week-12 one), which one model across weeks can only average. None without a term
    position, or with too few rows at a week."""
    if TERM_WEEK not in data.columns:
        return {}
    weeks = data.inputs[TERM_WEEK].astype(float)
    fitted: dict[int, BaseEstimator] = {}
    for week in sorted(weeks.round().dropna().unique()):
        near = ((weeks - week).abs() <= WEEK_WINDOW).to_numpy()
        fail = data.fail[near]
        if near.sum() < MIN_WEEK_ROWS or min(fail.sum(), len(fail) - fail.sum()) < MIN_PER_CLASS:
            continue
        try:
            fitted[int(week)] = build_classifier(name, data.columns).fit(data.inputs[near], fail)
        except ValueError:  # an input with no value at all around this week: the model across weeks serves it
            continue
    return fitted if len(fitted) > 1 else {}


def _typical_by_week(data: StageData) -> dict[int, Typical]:
    """The typical training student at each whole week of term the rows know (none without a term position)."""
    if TERM_WEEK not in data.columns:
        return {}
    weeks = data.inputs[TERM_WEEK].round()
    return {
        int(week): typical_values(data.inputs[weeks == week], data.columns)
        for week in sorted(weeks.dropna().unique())
        if (weeks == week).sum() >= MIN_ROWS
    }


@dataclass
class FittedStages:
    """Every trainable stage cross-validated and refitted; no MLflow involved."""

    rows: pd.DataFrame  # the labelled training rows
    fingerprint: str
    evaluations: list[StageEvaluation]
    data: dict[str, tuple[pd.DataFrame, StageData]]  # per stage: its rows and model inputs
    model: FailRiskModel | None
    skipped: dict[str, str]  # stage -> why it was not trained


def fit_and_evaluate(
    frame: pd.DataFrame,
    *,
    n_repeats: int = 2,
    n_splits: int = N_SPLITS,
    stages: tuple[Stage, ...] = STAGES,
    n_jobs: int = 1,
) -> FittedStages:
    """Per stage: cross-validate the candidates and the naive predictor, choose, refit on all rows."""
    rows = labelled_rows(frame)
    evaluations: list[StageEvaluation] = []
    data_by_stage: dict[str, tuple[pd.DataFrame, StageData]] = {}
    stage_models: dict[str, StageModel] = {}
    skipped: dict[str, str] = {}
    for stage in stages:
        subset = rows[rows_supporting(rows, stage)].reset_index(drop=True)
        columns = usable_columns(subset, stage)
        if problem := _too_little(subset, columns):
            skipped[stage.name] = problem
            continue
        data = stage_data(subset, stage, columns)
        selection = _selection_rows(subset)
        chosen = subset.iloc[selection].reset_index(drop=True) if selection is not None else subset
        chosen_data = stage_data(chosen, stage, columns) if selection is not None else data
        folds = make_folds(chosen_data.fail, n_splits=n_splits, n_repeats=n_repeats, groups=student_groups(chosen))
        evaluation = evaluate_stage(chosen_data, folds, n_jobs=n_jobs)
        evaluations.append(evaluation)
        data_by_stage[stage.name] = (chosen, chosen_data)
        stage_models[stage.name] = fit_stage(data, evaluation)
    data_fingerprint = fingerprint(rows)
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    model = (
        FailRiskModel(stage_models, data_fingerprint, {"trained_at": trained_at, "rows": len(rows)})
        if stage_models
        else None
    )
    return FittedStages(rows, data_fingerprint, evaluations, data_by_stage, model, skipped)
