"""Validation that matches deployment: judged on the institution's own students, on a period the model did not
see, report date by report date, with intervals.

- Two labelled periods or more: a model is fitted on the earlier ones (with the prior, while own labels are few)
  and scores every report date of the latest one, as a report on that date would have.
- One labelled period: grouped cross-validation on it (a student's rows at every date stay in one fold); the
  candidates chosen on all rows are refitted on each fold, which flatters a little, and the note says so.
- None: nothing measures the model on this institution's students; the note says "not yet validated".

Every figure comes with a 90 % interval from a bootstrap over students; calibration is the expected calibration
error (10 bins) and the calibration slope (1 is ideal; below 1, probabilities too extreme).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold

from passcompass_assets.core.ml.features import fail_label
from passcompass_assets.core.ml.fitting import FittedStages, fit_and_evaluate, labelled_rows, student_groups
from passcompass_assets.core.ml.model import FailRiskModel
from passcompass_assets.core.ml.pipeline import SEED, build_classifier
from passcompass_assets.core.ml.stages import STAGES, latest_stage
from passcompass_assets.core.ml.training_data import TrainingData, is_prior
from passcompass_assets.core.records import REPORT_DATE, TERM_WEEK

Method = Literal["held-out period", "cross-validation", "none"]
BOOTSTRAP = 100
MIN_STUDENTS = 100  # own students judged on, at the least, before a model counts as validated on them
INTERVAL = (5.0, 95.0)  # percentiles of the bootstrap: a 90 % interval
HIGH_RISK = 0.5


@dataclass(frozen=True)
class Scores:
    """Probabilities against what happened, with the naive predictor's on the same rows."""

    rows: int
    students: int
    failing: int
    auc: float | None
    auc_interval: tuple[float, float] | None
    brier: float
    brier_interval: tuple[float, float]
    pr_auc: float | None
    ece: float
    calibration_slope: float | None
    high_precision: float | None
    high_recall: float | None
    naive_auc: float | None
    naive_brier: float
    chance_brier: float  # always forecasting the training fail rate


@dataclass(frozen=True)
class WeekScores:
    week: int  # whole weeks of term elapsed on the report date
    scores: Scores


@dataclass
class Validation:
    method: Method
    held_out: str | None  # the period judged on
    trained_on: list[str]  # the periods the judged model learnt from
    note: str
    overall: Scores | None = None
    weeks: list[WeekScores] = field(default_factory=list)
    # The judged rows: keys, report date, term week, fail (1/0), the model's and the naive probabilities.
    rows: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # what was scored, for the champion

    @property
    def on_own_students(self) -> bool:
        """Measured on enough of the institution's own students to say so in its reports."""
        return self.method != "none" and self.overall is not None and self.overall.students >= MIN_STUDENTS

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "held_out": self.held_out,
            "trained_on": self.trained_on,
            "note": self.note,
            "overall": asdict(self.overall) if self.overall else None,
            "weeks": [{"week": w.week, **asdict(w.scores)} for w in self.weeks],
        }


def _interval(values: list[float]) -> tuple[float, float]:
    low, high = np.nanpercentile(values, INTERVAL)
    return round(float(low), 4), round(float(high), 4)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = edges == b
        if inside.any():
            total += inside.sum() * abs(p[inside].mean() - y[inside].mean())
    return round(total / len(y), 4)


def _calibration_slope(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    x = logit(np.clip(p, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
    return round(float(fit.coef_[0][0]), 3)


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return round(float(roc_auc_score(y, p)), 4) if len(np.unique(y)) == 2 else None


def scores(
    y: np.ndarray, p: np.ndarray, naive: np.ndarray, groups: np.ndarray, train_rate: float, seed: int = SEED
) -> Scores:
    """The figures of probabilities ``p`` (and the naive ``naive``) for outcomes ``y``; intervals by resampling
    students (``groups``), whose rows are not independent of each other."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    aucs, briers = [], []
    for _ in range(BOOTSTRAP):
        picked = np.concatenate([members[g] for g in rng.integers(0, len(unique), len(unique))])
        briers.append(float(brier_score_loss(y[picked], p[picked], labels=[0, 1])))
        if (auc := _auc(y[picked], p[picked])) is not None:
            aucs.append(auc)
    flagged = p >= HIGH_RISK
    auc = _auc(y, p)
    return Scores(
        rows=len(y),
        students=len(unique),
        failing=int(y.sum()),
        auc=auc,
        auc_interval=_interval(aucs) if aucs and auc is not None else None,
        brier=round(float(brier_score_loss(y, p, labels=[0, 1])), 4),
        brier_interval=_interval(briers),
        pr_auc=round(float(average_precision_score(y, p)), 4) if y.sum() else None,
        ece=expected_calibration_error(y, p),
        calibration_slope=_calibration_slope(y, p),
        high_precision=round(float(y[flagged].mean()), 4) if flagged.any() else None,
        high_recall=round(float(flagged[y == 1].mean()), 4) if y.sum() else None,
        naive_auc=_auc(y, naive),
        naive_brier=round(float(brier_score_loss(y, naive, labels=[0, 1])), 4),
        chance_brier=round(float(brier_score_loss(y, np.full(len(y), train_rate), labels=[0, 1])), 4),
    )


def naive_probability(train: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """The naive predictor fitted on ``train``: the fail rate, or once an interim grade is known, the fail rate
    of the students on the same side of the pass mark in their last interim grade."""
    train_fail = fail_label(train)
    probability = np.full(len(rows), train_fail.mean() if len(train_fail) else 0.5)
    stage_of_row = latest_stage(rows, [s.name for s in STAGES])
    for stage in STAGES:
        grade = stage.last_interim
        if grade is None or grade not in rows or grade not in train:
            continue
        mine = (stage_of_row == stage.name).to_numpy()
        known = train[grade].notna().to_numpy()
        if not mine.any() or not known.any():
            continue
        below_train = (train[grade].astype(float) < train["pass_mark"].astype(float)).to_numpy()
        below = (rows[grade].astype(float) < rows["pass_mark"].astype(float)).to_numpy()
        for side in (True, False):
            group = known & (below_train == side)
            rate = train_fail[group].mean() if group.any() else float(side)
            probability[mine & (below == side)] = rate
    return probability


def _judged(rows: pd.DataFrame, probability: np.ndarray, naive: np.ndarray) -> pd.DataFrame:
    judged = rows[["user_id", "course_id", "period_id"]].copy()
    judged[REPORT_DATE] = rows.get(REPORT_DATE, None)
    judged[TERM_WEEK] = rows.get(TERM_WEEK, np.nan)
    judged["fail"] = fail_label(rows)
    judged["probability"] = probability
    judged["naive"] = naive
    return judged.reset_index(drop=True)


def summarise(judged: pd.DataFrame, train_rate: float) -> tuple[Scores | None, list[WeekScores]]:
    """Overall and per whole week of term (report dates of a term fall on whole weeks)."""
    if judged.empty:
        return None, []
    groups = student_groups(judged.assign(report_date=judged[REPORT_DATE]))
    if groups is None:
        groups = np.arange(len(judged))

    def of(mask: np.ndarray) -> Scores:
        part = judged[mask]
        return scores(
            part["fail"].to_numpy(dtype=int),
            part["probability"].to_numpy(dtype=float),
            part["naive"].to_numpy(dtype=float),
            groups[mask],
            train_rate,
        )

    overall = of(np.ones(len(judged), dtype=bool))
    weeks = []
    if judged[TERM_WEEK].notna().any():
        week = judged[TERM_WEEK].round().astype("Int64")
        for value in sorted(week.dropna().unique()):
            mask = (week == value).fillna(False).to_numpy()
            if mask.sum() >= 10:
                weeks.append(WeekScores(int(value), of(mask)))
    return overall, weeks


def _period_order(frame: pd.DataFrame) -> list[str]:
    """Own labelled periods, earliest first (by their last report date)."""
    last = frame.groupby("period_id")[REPORT_DATE].max() if REPORT_DATE in frame else pd.Series(dtype=object)
    return [str(p) for p in last.sort_values().index]


def _held_out(data: TrainingData, periods: list[str], *, n_repeats: int) -> Validation:
    held_out, earlier = periods[-1], periods[:-1]
    own_train = data.own[data.own["period_id"].isin(earlier)]
    prior = data.frame[is_prior(data.frame)] if data.prior_rows else data.frame.iloc[0:0]
    train = pd.concat([prior, own_train], ignore_index=True, sort=False) if len(prior) else own_train
    fitted = fit_and_evaluate(train, n_repeats=n_repeats)
    rows = labelled_rows(data.own[data.own["period_id"] == held_out])
    if fitted.model is None or rows.empty:
        return Validation("none", None, [], f"no model could be fitted on {', '.join(earlier)}")
    probability = fitted.model.predict(rows, explain=False)["fail_probability"].to_numpy(dtype=float)
    judged = _judged(rows, probability, naive_probability(labelled_rows(train), rows))
    overall, weeks = summarise(judged, float(fail_label(labelled_rows(train)).mean()))
    trained_on = [*earlier, *(["UCI prior"] if len(prior) else [])]
    note = f"fitted on {', '.join(trained_on)}; judged on {held_out}, which it did not see, at each report date"
    return Validation("held-out period", held_out, trained_on, note, overall, weeks, judged, rows)


def _cross_validated(data: TrainingData, fitted: FittedStages, *, n_splits: int = 5) -> Validation:
    """Out-of-fold probabilities on the one labelled period, the chosen candidates refitted per fold."""
    own = labelled_rows(data.own)
    groups = student_groups(own)
    if fitted.model is None or groups is None or len(np.unique(groups)) < n_splits:
        return Validation("none", None, [], "too few of the institution's own students to cross-validate")
    probability = np.full(len(own), np.nan)
    prior = data.frame[is_prior(data.frame)] if data.prior_rows else data.frame.iloc[0:0]
    for train_index, test_index in GroupKFold(n_splits=n_splits).split(own, groups=groups):
        train = pd.concat([prior, own.iloc[train_index]], ignore_index=True, sort=False)
        refitted = _refit(fitted.model, train)
        probability[test_index] = refitted.predict(own.iloc[test_index], explain=False)["fail_probability"]
    judged = _judged(own, probability, naive_probability(own, own))
    overall, weeks = summarise(judged.dropna(subset=["probability"]), float(fail_label(own).mean()))
    period = str(own["period_id"].iloc[0])
    note = (
        f"cross-validated on {period}, the only labelled period so far (a student's rows stay in one fold; the "
        "candidates were chosen on all of them): a second labelled period will judge it on unseen students"
    )
    return Validation("cross-validation", period, [period], note, overall, weeks, judged, own)


def _refit(model: FailRiskModel, frame: pd.DataFrame) -> FailRiskModel:
    """The same stages, inputs and candidates as ``model``, fitted on ``frame``."""
    from passcompass_assets.core.ml.cross_validation import stage_data
    from passcompass_assets.core.ml.model import StageModel
    from passcompass_assets.core.ml.stages import STAGE_BY_NAME, rows_supporting

    rows = labelled_rows(frame)
    stages: dict[str, StageModel] = {}
    for name, stage_model in model.stages.items():
        subset = rows[rows_supporting(rows, STAGE_BY_NAME[name])].reset_index(drop=True)
        if subset.empty or fail_label(subset).min() == fail_label(subset).max():
            continue
        data = stage_data(subset, STAGE_BY_NAME[name], stage_model.columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = build_classifier(stage_model.classifier_name, stage_model.columns).fit(data.inputs, data.fail)
        stages[name] = StageModel(
            name, stage_model.columns, stage_model.classifier_name, stage_model.regressor_name, classifier,
            stage_model.regressor, stage_model.typical,
        )  # fmt: skip
    return FailRiskModel(stages, model.data_fingerprint, dict(model.metadata))


def validate(data: TrainingData, fitted: FittedStages, *, n_repeats: int = 1) -> Validation:
    """How the model does on the institution's own students, as it will be used (see the module docstring)."""
    own = labelled_rows(data.own) if not data.own.empty else data.own
    periods = _period_order(own) if not own.empty else []
    if len(periods) >= 2:
        return _held_out(data, periods, n_repeats=n_repeats)
    if len(periods) == 1:
        return _cross_validated(data, fitted)
    return Validation(
        "none", None, [], "not yet validated on this institution's students: no labelled period of its own"
    )


def paired_brier_difference(
    y: np.ndarray, ours: np.ndarray, theirs: np.ndarray, groups: np.ndarray, seed: int = SEED
) -> tuple[float, tuple[float, float]]:
    """Brier(ours) - Brier(theirs) on the same rows, with a 90 % interval over students (negative: ours better)."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    differences = []
    for _ in range(BOOTSTRAP):
        picked = np.concatenate([members[g] for g in rng.integers(0, len(unique), len(unique))])
        differences.append(float(np.mean((ours[picked] - y[picked]) ** 2 - (theirs[picked] - y[picked]) ** 2)))
    point = float(np.mean((ours - y) ** 2 - (theirs - y) ** 2))
    return round(point, 5), _interval(differences)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
