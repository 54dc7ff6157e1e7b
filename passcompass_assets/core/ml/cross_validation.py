"""Cross-validation of every candidate and of the naive predictor on the same repeated stratified folds."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from passcompass_assets.core.ml.features import fail_label, grade_share, model_frame
from passcompass_assets.core.ml.pipeline import (
    CLASSIFIERS,
    REGRESSORS,
    SEED,
    Candidate,
    applicable,
    blends,
    members,
    preprocessor,
)
from passcompass_assets.core.ml.stages import Stage

Folds = list[tuple[np.ndarray, np.ndarray]]
BRIER_TOLERANCE = 0.005  # relative


def make_folds(
    y: np.ndarray, *, n_splits: int, n_repeats: int, seed: int = SEED, groups: np.ndarray | None = None
) -> Folds:
    """Repeated stratified K-fold with a fixed seed, fewer folds when there are few failing students. With
    ``groups`` (a student's rows at several report dates), a student's rows stay in one fold, so no fold is
    judged on a student it learnt from."""
    splits = max(2, min(n_splits, int(np.bincount(y, minlength=2).min())))
    if groups is None or len(np.unique(groups)) == len(groups):
        cv = RepeatedStratifiedKFold(n_splits=splits, n_repeats=n_repeats, random_state=seed)
        return [(train, test) for train, test in cv.split(np.zeros(len(y)), y)]
    folds: Folds = []
    for repeat in range(n_repeats):
        grouped = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed + repeat)
        folds += [(train, test) for train, test in grouped.split(np.zeros(len(y)), y, groups)]
    return folds


def classification_metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    predicted = (probability >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "roc_auc": float(roc_auc_score(y, probability)) if len(np.unique(y)) == 2 else float("nan"),
        "brier": float(brier_score_loss(y, probability, pos_label=1)),
    }


def fold_mean(per_fold: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.nanmean([m[key] for m in per_fold])) for key in per_fold[0]}


@dataclass
class StageData:
    """The labelled rows of one stage, ready for cross-validation."""

    stage: Stage
    columns: list[str]
    inputs: pd.DataFrame  # features.model_frame
    fail: np.ndarray  # 1 = failed
    share: np.ndarray  # final grade / grade_max
    grade_max: np.ndarray
    naive_fail: np.ndarray | None  # the naive rule's verdict (interim stages), else None
    naive_share: np.ndarray | None  # the last interim grade as a share of the scale


def stage_data(frame: pd.DataFrame, stage: Stage, columns: list[str]) -> StageData:
    grade_max = frame["grade_max"].astype(float).to_numpy()
    naive_fail = naive_share = None
    if stage.last_interim is not None:
        last = frame[stage.last_interim].astype(float).to_numpy()
        naive_fail = (last < frame["pass_mark"].astype(float).to_numpy()).astype(int)
        naive_share = last / grade_max
    return StageData(
        stage=stage,
        columns=columns,
        inputs=model_frame(frame, columns),
        fail=fail_label(frame),
        share=grade_share(frame),
        grade_max=grade_max,
        naive_fail=naive_fail,
        naive_share=naive_share,
    )


def _fit_fold(data: StageData, train: np.ndarray, test: np.ndarray) -> tuple[dict, dict]:
    """Every base candidate fitted on one training fold, predicting its test fold.

    Candidates using the same inputs share one preprocessor fit: the same computation as fitting each
    full pipeline, done once.
    """
    fail: dict[str, np.ndarray] = {}
    share: dict[str, np.ndarray] = {}
    x_train, x_test = data.inputs.iloc[train], data.inputs.iloc[test]
    prepared: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    def inputs_for(candidate: Candidate) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(candidate.inputs(data.columns))
        if key not in prepared:
            prep = preprocessor(list(key)).fit(x_train)
            prepared[key] = (prep.transform(x_train), prep.transform(x_test))
        return prepared[key]

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # constant columns in small folds, convergence chatter
        for name in applicable(CLASSIFIERS, data.columns):
            train_x, test_x = inputs_for(CLASSIFIERS[name])
            fail[name] = CLASSIFIERS[name].model().fit(train_x, data.fail[train]).predict_proba(test_x)[:, 1]
        for name in applicable(REGRESSORS, data.columns):
            train_x, test_x = inputs_for(REGRESSORS[name])
            share[name] = REGRESSORS[name].model().fit(train_x, data.share[train]).predict(test_x)
    return fail, share


@dataclass
class StageEvaluation:
    stage: Stage
    rows: int
    failing: int
    folds: Folds
    classifier: str  # the chosen candidate
    regressor: str
    metrics: dict[str, float]  # the chosen candidate's, averaged over folds
    naive: dict[str, float]
    chance_brier: float  # always forecasting the training folds' fail rate: no information at all
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    regressors: dict[str, float] = field(default_factory=dict)  # grade RMSE per regressor

    def score_other(self, data: StageData, probability: np.ndarray) -> dict[str, float]:
        """Metrics of another model's probabilities (e.g. the champion's) on these same folds."""
        return fold_mean([classification_metrics(data.fail[test], probability[test]) for _, test in self.folds])


def choose(candidates: dict[str, dict[str, float]]) -> str:
    """Lowest cross-validated Brier; among those within BRIER_TOLERANCE of it, the one with fewest members.

    Differences that small are fold noise, and a simpler model is cheaper to fit and to explain.
    """
    best = min(m["brier"] for m in candidates.values())
    close = [name for name, m in candidates.items() if m["brier"] <= best * (1 + BRIER_TOLERANCE)]
    return min(close, key=lambda name: (len(members(name)), candidates[name]["brier"], -candidates[name]["roc_auc"]))


def _rmse(data: StageData, test: np.ndarray, share: np.ndarray) -> float:
    error = (np.clip(share, 0, 1) - data.share[test]) * data.grade_max[test]
    return float(np.sqrt(np.mean(error**2)))


def _naive(data: StageData, folds: Folds) -> dict[str, float]:
    """Majority class at the start; "pass if the last interim grade passes" once there is one.

    Its probability is the training folds' fail rate within each group of the rule, the best a
    rule-based forecast can do on Brier; its accuracy is the rule's own (as in Cortez & Silva).
    """
    per_fold = []
    for train, test in folds:
        y_train, y_test = data.fail[train], data.fail[test]
        if data.naive_fail is None or data.naive_share is None:
            probability = np.full(len(test), y_train.mean())
            verdict = (probability >= 0.5).astype(int)
            share = np.full(len(test), data.share[train].mean())
        else:
            verdict = data.naive_fail[test]
            rate = {
                g: y_train[data.naive_fail[train] == g].mean() if (data.naive_fail[train] == g).any() else g
                for g in (0, 1)
            }
            probability = np.where(verdict == 1, rate[1], rate[0])
            share = data.naive_share[test]
        metrics = classification_metrics(y_test, probability)
        metrics["accuracy"] = float(accuracy_score(y_test, verdict))
        metrics["balanced_accuracy"] = float(balanced_accuracy_score(y_test, verdict))
        metrics["grade_rmse"] = _rmse(data, test, share)
        per_fold.append(metrics)
    return fold_mean(per_fold)


def evaluate_stage(data: StageData, folds: Folds, *, n_jobs: int = 1) -> StageEvaluation:
    """Cross-validate all candidates and the naive predictor; choose by Brier (then ROC AUC) and RMSE.

    ``n_jobs`` > 1 spreads folds over worker processes; each costs seconds to start (importing
    scikit-learn), so it only pays on an otherwise idle machine with many folds.
    """
    if n_jobs > 1:
        fitted = Parallel(n_jobs=n_jobs)(delayed(_fit_fold)(data, train, test) for train, test in folds)
    else:
        fitted = [_fit_fold(data, train, test) for train, test in folds]
    base = applicable(CLASSIFIERS, data.columns)
    candidates: dict[str, dict[str, float]] = {}
    for name in base + blends(base):
        per_fold = [
            classification_metrics(data.fail[test], np.mean([fail[m] for m in members(name)], axis=0))
            for (_, test), (fail, _) in zip(folds, fitted, strict=True)
        ]
        candidates[name] = fold_mean(per_fold)
    regressors: dict[str, float] = {}
    regressor_base = applicable(REGRESSORS, data.columns)
    for name in [*regressor_base, *blends(regressor_base)]:
        per_fold_rmse = [
            _rmse(data, test, np.mean([share[m] for m in members(name)], axis=0))
            for (_, test), (_, share) in zip(folds, fitted, strict=True)
        ]
        regressors[name] = float(np.mean(per_fold_rmse))
    chosen = choose(candidates)
    regressor = min(regressors, key=regressors.__getitem__)
    return StageEvaluation(
        stage=data.stage,
        rows=len(data.fail),
        failing=int(data.fail.sum()),
        folds=folds,
        classifier=chosen,
        regressor=regressor,
        metrics={**candidates[chosen], "grade_rmse": regressors[regressor]},
        naive=_naive(data, folds),
        chance_brier=float(
            np.mean([brier_score_loss(data.fail[te], np.full(len(te), data.fail[tr].mean())) for tr, te in folds])
        ),
        candidates=candidates,
        regressors=regressors,
    )
