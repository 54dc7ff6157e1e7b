"""Train a fail-risk model, judge it (cross-validation, the institution's own students, the gate in
core/ml/gate.py), log it to MLflow, and promote it only when the gate says so."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from passcompass_assets.core.ml.cross_validation import StageEvaluation
from passcompass_assets.core.ml.fitting import N_SPLITS, fit_and_evaluate
from passcompass_assets.core.ml.gate import MIN_AUC_GAIN, MIN_BRIER_SKILL, judge
from passcompass_assets.core.ml.loader import load_champion
from passcompass_assets.core.ml.model import FailRiskModel
from passcompass_assets.core.ml.model_card import build_card, card_summary, render_card, validation_fairness
from passcompass_assets.core.ml.own_students import Validation, validate
from passcompass_assets.core.ml.pipeline import SEED
from passcompass_assets.core.ml.tracking import CARD_HTML, CARD_JSON, log_training
from passcompass_assets.core.ml.training_data import TrainingData
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
    validation: Validation | None = field(default=None, repr=False)
    card: dict[str, object] | None = field(default=None, repr=False)
    card_summary: str = ""  # Markdown, for the Dagster UI

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
                "validation": self.validation.as_dict() if self.validation else None,
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


def train_and_gate(data: TrainingData | pd.DataFrame, settings: Settings, *, n_repeats: int = 2) -> TrainingOutcome:
    """Train, validate on the institution's own students, log and register; move the ``champion`` alias only if
    the gate promotes. A bare frame (``passcompass train --data``) is training data with no students of the
    institution's own."""
    if isinstance(data, pd.DataFrame):
        data = TrainingData(data, data.iloc[0:0], len(data), f"{len(data)} rows given directly, none of our own")
    fitted = fit_and_evaluate(data.frame, n_repeats=n_repeats)
    if fitted.model is not None:
        fitted.model.metadata["periods"] = sorted(str(p) for p in fitted.rows["period_id"].unique())
    validation = validate(data, fitted)
    unreadable = None
    try:
        champion = load_champion(settings)
    except Exception as exc:  # e.g. pickled by an incompatible scikit-learn: it cannot serve reports either
        champion, unreadable = None, f"{type(exc).__name__}: {exc}"
    decision, champion_metrics = judge(fitted, validation, champion, unreadable)
    reason = f"{decision.reason}. Training data: {data.note}. Validation: {validation.note}"
    if fitted.skipped:
        reason += " (stages not trained: " + "; ".join(f"{k}: {v}" for k, v in fitted.skipped.items()) + ")"
    fairness = validation_fairness(validation, high_risk=settings.risk_high, min_group=settings.fairness_min_group)
    card = build_card(data, fitted, validation, fairness, promoted=decision.promoted, reason=reason)

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
        "validation.method": validation.method,
        "validation.on_own_students": str(validation.on_own_students).lower(),
        "data_fingerprint": fitted.fingerprint,
        "champion_before": champion.version if champion else "none",
    }
    run_id, version = log_training(
        settings,
        params=params,
        metrics={**metrics, "validation": validation_metrics(validation)},
        tags=tags,
        model=fitted.model,
        promote=decision.promoted,
        documents={"validation.json": _jsonable_dict(validation.as_dict()), CARD_JSON: _jsonable_dict(card)},
        texts={CARD_HTML: render_card(card)},
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
        validation=validation,
        card=card,
        card_summary=card_summary(validation, fairness),
    )


def validation_metrics(validation: Validation) -> dict[str, dict[str, float | None]]:
    """``{who: {metric: value}}`` for MLflow: overall and per week (``validation.week_06.auc``)."""
    out: dict[str, dict[str, float | None]] = {}
    parts = [("overall", validation.overall), *((f"week_{w.week:02d}", w.scores) for w in validation.weeks)]
    for name, part in parts:
        if part is not None:
            out[name] = {"auc": part.auc, "brier": part.brier, "pr_auc": part.pr_auc, "ece": part.ece,
                         "naive_auc": part.naive_auc, "naive_brier": part.naive_brier}  # fmt: skip
    return out
