"""Train a fail-risk model, evaluate it against the naive predictor and the champion on the same folds, log it
to MLflow, and promote it only through the quality gate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from passcompass_assets.core.ml.evaluation import StageEvaluation
from passcompass_assets.core.ml.fitting import N_SPLITS, FittedStages, fit_and_evaluate
from passcompass_assets.core.ml.gate import MIN_AUC_GAIN, MIN_BRIER_SKILL, decide
from passcompass_assets.core.ml.loader import LoadedModel, load_champion
from passcompass_assets.core.ml.model import FailRiskModel
from passcompass_assets.core.ml.pipeline import SEED
from passcompass_assets.core.ml.tracking import log_training
from passcompass_assets.core.settings import Settings


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

    def jsonable_metrics(self) -> dict[str, object]:
        return _jsonable_dict(self.metrics)

    def as_json(self) -> dict[str, object]:
        return _jsonable_dict(
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


def _jsonable_dict(values: Mapping[str, object]) -> dict[str, object]:
    return {key: _jsonable(value) for key, value in values.items()}


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


def rescore_champion(fitted: FittedStages, champion: LoadedModel) -> dict[str, dict[str, float]]:
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
    unreadable = None
    try:
        champion = load_champion(settings)
    except Exception as exc:  # e.g. pickled by an incompatible scikit-learn: it cannot serve reports either
        champion, unreadable = None, f"{type(exc).__name__}: {exc}"
    champion_metrics = rescore_champion(fitted, champion) if champion else {}
    decision = decide(fitted.evaluations, champion_metrics or None, champion.version if champion else None, unreadable)
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
        "gate": f"ROC AUC >= naive + {MIN_AUC_GAIN} (at most half the headroom); "
        f"Brier >= {MIN_BRIER_SKILL:.0%} below naive; beats the champion",
        **{f"{ev.stage.name}.rows": f"{ev.rows} ({ev.failing} failing)" for ev in fitted.evaluations},
        **{f"{ev.stage.name}.classifier": ev.classifier for ev in fitted.evaluations},
        **{f"{ev.stage.name}.regressor": ev.regressor for ev in fitted.evaluations},
        **{f"{name}.columns": ",".join(m.columns) for name, m in (fitted.model.stages if fitted.model else {}).items()},
        **{f"{name}.skipped": why for name, why in fitted.skipped.items()},
    }
    tags = {
        "gate.decision": "promoted" if decision.promoted else "rejected",
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
