"""Train a fail-risk model stage by stage, evaluate it against the naive predictor and the champion on the
same folds, log it to MLflow, and promote it only through the quality gate."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from passcompass_assets.core.ml.evaluation import StageData, StageEvaluation, evaluate_stage, make_folds, stage_data
from passcompass_assets.core.ml.explain import typical_values
from passcompass_assets.core.ml.features import SCALE_COLUMNS, usable_columns
from passcompass_assets.core.ml.gate import MIN_AUC_GAIN, MIN_BRIER_SKILL, decide
from passcompass_assets.core.ml.model import FailRiskModel, StageModel
from passcompass_assets.core.ml.pipeline import SEED, build_classifier, build_regressor
from passcompass_assets.core.ml.stages import STAGES, Stage, rows_supporting
from passcompass_assets.core.ml.tracking import Champion, fingerprint, load_champion, log_training
from passcompass_assets.core.settings import Settings

N_SPLITS = 5
MIN_ROWS = 30  # labelled students a stage needs before it is trained
MIN_PER_CLASS = 5  # failing and passing students each, so every fold sees both


@dataclass
class TrainingOutcome:
    promoted: bool
    reason: str
    metrics: dict[str, dict]  # per stage: model, naive, champion metrics; chosen candidates
    model_version: str | None  # the registered version of this run's model (promoted or not)
    run_id: str | None
    data_fingerprint: str
    champion_version: str | None = None  # the champion after this run
    model: FailRiskModel | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, object]:
        return _jsonable(
            {
                "promoted": self.promoted,
                "reason": self.reason,
                "metrics": self.metrics,
                "model_version": self.model_version,
                "champion_version": self.champion_version,
                "run_id": self.run_id,
                "data_fingerprint": self.data_fingerprint,
            }
        )


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


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
    failing = int((rows["final_grade"].astype(float) < rows["pass_mark"].astype(float)).sum())
    passing = len(rows) - failing
    if len(rows) < MIN_ROWS or min(failing, passing) < MIN_PER_CLASS:
        return (
            f"too few labelled students ({len(rows)}: {failing} failing, {passing} passing; "
            f"needs {MIN_ROWS} with at least {MIN_PER_CLASS} of each)"
        )
    if not columns:
        return "no input column carries information at this stage"
    return None


def fit_stage(data: StageData, evaluation: StageEvaluation) -> StageModel:
    """The chosen classifier and regressor refitted on all of the stage's rows."""
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        classifier = build_classifier(evaluation.classifier, data.columns).fit(data.inputs, data.fail)
        regressor = build_regressor(evaluation.regressor, data.columns).fit(data.inputs, data.share)
    return StageModel(
        stage=data.stage.name,
        columns=data.columns,
        classifier_name=evaluation.classifier,
        regressor_name=evaluation.regressor,
        classifier=classifier,
        regressor=regressor,
        typical=typical_values(data.inputs, data.columns),
    )


def _stage_metrics(ev: StageEvaluation, champion: dict[str, float] | None) -> dict[str, object]:
    return {
        "rows": ev.rows,
        "failing": ev.failing,
        "folds": len(ev.folds),
        "classifier": ev.classifier,
        "regressor": ev.regressor,
        "model": ev.metrics,
        "naive": ev.naive,
        "champion": champion,
        "candidates": ev.candidates,
        "regressors": ev.regressors,
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
    frame: pd.DataFrame, *, n_repeats: int = 2, n_splits: int = N_SPLITS, stages: tuple[Stage, ...] = STAGES
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
        evaluation = evaluate_stage(data, make_folds(data.fail, n_splits=n_splits, n_repeats=n_repeats))
        evaluations.append(evaluation)
        data_by_stage[stage.name] = (subset, data)
        stage_models[stage.name] = fit_stage(data, evaluation)
    data_fingerprint = fingerprint(rows)
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    model = (
        FailRiskModel(stage_models, data_fingerprint, {"trained_at": trained_at, "rows": len(rows)})
        if stage_models
        else None
    )
    return FittedStages(rows, data_fingerprint, evaluations, data_by_stage, model, skipped)


def rescore_champion(fitted: FittedStages, champion: Champion) -> dict[str, dict[str, float]]:
    """The champion, as deployed, scored on the held-out parts of the challenger's folds."""
    scores: dict[str, dict[str, float]] = {}
    for ev in fitted.evaluations:
        subset, data = fitted.data[ev.stage.name]
        probability = champion.model.fail_probability_at(subset, ev.stage.name)
        if probability is not None:
            scores[ev.stage.name] = ev.score_other(data, probability)
    return scores


def train_and_gate(frame: pd.DataFrame, settings: Settings, *, n_repeats: int = 2) -> TrainingOutcome:
    """Train, cross-validate, log and register; move the ``champion`` alias only if the gate promotes."""
    fitted = fit_and_evaluate(frame, n_repeats=n_repeats)
    champion = load_champion(settings)
    champion_metrics = rescore_champion(fitted, champion) if champion else {}
    decision = decide(fitted.evaluations, champion_metrics or None, champion.version if champion else None)
    reason = decision.reason
    if champion and champion_metrics and champion.model.data_fingerprint == fitted.fingerprint:
        reason += " (the champion was trained on this same data, so its scores here are in-sample)"
    if fitted.skipped:
        reason += " (stages not trained: " + "; ".join(f"{k}: {v}" for k, v in fitted.skipped.items()) + ")"

    metrics = {ev.stage.name: _stage_metrics(ev, champion_metrics.get(ev.stage.name)) for ev in fitted.evaluations}
    params: dict[str, object] = {
        "rows": len(fitted.rows),
        "courses": fitted.rows["course_id"].nunique(),
        "cv": f"repeated stratified {N_SPLITS}-fold x {n_repeats}, seed {SEED}",
        "gate": f"ROC AUC >= naive + {MIN_AUC_GAIN}; Brier >= {MIN_BRIER_SKILL:.0%} below naive; beats champion",
        **{f"{ev.stage.name}.classifier": ev.classifier for ev in fitted.evaluations},
        **{f"{ev.stage.name}.regressor": ev.regressor for ev in fitted.evaluations},
        **{f"{name}.columns": ",".join(m.columns) for name, m in (fitted.model.stages if fitted.model else {}).items()},
        **{f"{name}.skipped": why for name, why in fitted.skipped.items()},
    }
    tags = {
        "gate.decision": "promoted" if decision.promoted else "not promoted",
        "gate.reason": reason[:5000],
        "data_fingerprint": fitted.fingerprint,
        "champion_before": champion.version if champion else "none",
    }
    run_id, version = log_training(
        settings, params=params, metrics=metrics, tags=tags, model=fitted.model, promote=decision.promoted
    )
    promoted = decision.promoted and version is not None
    return TrainingOutcome(
        promoted=promoted,
        reason=reason,
        metrics=metrics,
        model_version=version,
        run_id=run_id,
        data_fingerprint=fitted.fingerprint,
        champion_version=version if promoted else (champion.version if champion else None),
        model=fitted.model,
    )


def score(frame: pd.DataFrame, model: FailRiskModel | Champion) -> pd.DataFrame:
    """Per student: user_id, course_id, period_id, fail_probability, predicted_final_grade (course scale),
    top_factors (list of plain-words strings), signals_available, stage."""
    fitted = model.model if isinstance(model, Champion) else model
    return fitted.predict(frame)
