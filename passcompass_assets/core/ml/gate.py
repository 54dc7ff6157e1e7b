"""The quality gate: promote only a model that clearly beats the naive predictor, and is not worse than the
champion, measured the way it will be used. Every number behind the decision is in its reason.

With labelled periods of its own, the institution's students decide (core/ml/own_students.py: a period the model
did not see, else cross-validation on its one period): ROC AUC and Brier score against the naive predictor on
the same rows, then the champion on those rows when it did not learn from them either. A challenger takes over
unless it is worse than the champion beyond noise (the upper end of the 90 % interval of the Brier difference
above :data:`NON_INFERIORITY`): it has learnt from more, and newer, data. Without own labels, the candidates'
cross-validation on the training data decides, and reports say the model is not validated on the institution.

The whole gate is here: the bars (:func:`decide`, :func:`decide_on_own_students`), the champion rescored on the
challenger's rows (:func:`rescore_champion`, :func:`compare_with_champion`) and the decision (:func:`judge`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from passcompass_assets.core.ml.cross_validation import StageEvaluation
from passcompass_assets.core.ml.fitting import FittedStages, student_groups
from passcompass_assets.core.ml.loader import LoadedModel
from passcompass_assets.core.ml.own_students import Validation, paired_brier_difference

MIN_AUC_GAIN = 0.05  # ROC AUC at least this much above the naive predictor's (0.50 = chance at the start)
MIN_BRIER_SKILL = 0.05  # Brier score at least 5 % below the naive predictor's
NON_INFERIORITY = 0.005  # how much worse (Brier) than the champion a challenger may be, at the interval's top


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str


def _skill(brier: float, reference: float) -> float:
    """How much lower a Brier score is than a reference's, as a share of it."""
    return 1 - brier / reference if reference > 0 else -math.inf


def required_auc(naive_auc: float) -> float:
    """Naive + MIN_AUC_GAIN; where the naive predictor is already near perfect, half of what is left to gain."""
    return naive_auc + min(MIN_AUC_GAIN, (1 - naive_auc) / 2)


def _versus_naive(ev: StageEvaluation) -> str | None:
    """None when the stage clears the naive bar, else what falls short, in words."""
    model, naive = ev.metrics, ev.naive
    auc, naive_auc = model["roc_auc"], naive["roc_auc"]
    where = f"with {ev.stage.signals}"
    # First the bare minimum: better than knowing nothing at all (chance ranking, the average fail rate).
    if not auc >= 0.5 + MIN_AUC_GAIN:
        return f"no predictive signal {where}: ROC AUC {auc:.2f} is no better than chance (0.50)"
    if not _skill(model["brier"], ev.chance_brier) >= MIN_BRIER_SKILL:
        return (
            f"no predictive signal {where}: Brier {model['brier']:.4f} is no better than always forecasting "
            f"the average fail rate ({ev.chance_brier:.4f}), although ROC AUC is {auc:.2f}"
        )
    problems = []
    needed = required_auc(naive_auc)
    if not auc >= needed:
        problems.append(f"ROC AUC {auc:.3f} vs naive {naive_auc:.3f} (needs {needed:.3f})")
    skill = _skill(model["brier"], naive["brier"])
    if not skill >= MIN_BRIER_SKILL:
        problems.append(
            f"Brier {model['brier']:.4f} vs naive {naive['brier']:.4f} ({skill:.0%} lower; needs {MIN_BRIER_SKILL:.0%})"
        )
    return f"not clearly better than the naive predictor {where}: " + "; ".join(problems) if problems else None


def _summary(ev: StageEvaluation) -> str:
    model, naive = ev.metrics, ev.naive
    return (
        f"{ev.stage.signals}: ROC AUC {model['roc_auc']:.3f} vs naive {naive['roc_auc']:.3f}, "
        f"Brier {model['brier']:.4f} vs naive {naive['brier']:.4f}"
    )


def decide(
    evaluations: list[StageEvaluation],
    champion: dict[str, dict[str, float]] | None = None,
    champion_version: str | None = None,
    champion_unreadable: str | None = None,
) -> GateDecision:
    """``champion``: per stage, the champion's metrics on the same folds (None when there is no champion).
    ``champion_unreadable``: why a champion exists but could not be loaded (it cannot serve reports either)."""
    if not evaluations:
        return GateDecision(False, "not promoted: no stage had enough labelled students to train and evaluate")
    failures = [problem for ev in evaluations if (problem := _versus_naive(ev))]
    if failures:
        return GateDecision(False, "not promoted: " + "; ".join(failures))
    beats_naive = "beats the naive predictor (" + "; ".join(_summary(ev) for ev in evaluations) + ")"
    if champion_unreadable:
        return GateDecision(True, f"promoted: {beats_naive}; the champion could not be loaded: {champion_unreadable}")
    if not champion:
        return GateDecision(True, f"promoted: {beats_naive}; there was no champion yet")
    shared = [ev for ev in evaluations if ev.stage.name in champion]
    if not shared:
        return GateDecision(True, f"promoted: {beats_naive}; the champion covers none of these stages")
    ours = sum(ev.metrics["brier"] for ev in shared) / len(shared)
    theirs = sum(champion[ev.stage.name]["brier"] for ev in shared) / len(shared)
    versus = f"mean Brier {ours:.4f} vs champion (version {champion_version}) {theirs:.4f} on the same folds"
    if ours < theirs:
        return GateDecision(True, f"promoted: {beats_naive}; beats the champion: {versus}")
    return GateDecision(False, f"not promoted: {beats_naive}, but does not beat the champion: {versus}")


@dataclass(frozen=True)
class ChampionComparison:
    version: str
    brier_difference: float  # challenger - champion (negative: the challenger is better)
    interval: tuple[float, float]
    rows: int


def decide_on_own_students(validation: Validation, comparison: ChampionComparison | None) -> GateDecision:
    """The gate on the institution's own students (``validation.overall`` must exist)."""
    overall = validation.overall
    if overall is None or overall.auc is None:
        return GateDecision(False, f"not promoted: no measure on the institution's own students ({validation.note})")
    naive_auc = overall.naive_auc if overall.naive_auc is not None else 0.5
    where = f"on the institution's own students ({validation.method}, {validation.held_out})"
    summary = (
        f"ROC AUC {overall.auc:.3f} {list(overall.auc_interval or ())} vs naive {naive_auc:.3f}, Brier "
        f"{overall.brier:.4f} {list(overall.brier_interval)} vs naive {overall.naive_brier:.4f} and "
        f"{overall.chance_brier:.4f} for the average fail rate, {overall.students} students"
    )
    if not overall.auc >= 0.5 + MIN_AUC_GAIN or not _skill(overall.brier, overall.chance_brier) >= MIN_BRIER_SKILL:
        return GateDecision(False, f"not promoted: no predictive signal {where}: {summary}")
    needed = required_auc(naive_auc)
    skill = _skill(overall.brier, overall.naive_brier)
    if not (overall.auc >= needed and skill >= MIN_BRIER_SKILL):
        return GateDecision(
            False, f"not promoted: not clearly better than the naive predictor {where} (needs ROC AUC {needed:.3f} "
            f"and a Brier {MIN_BRIER_SKILL:.0%} lower): {summary}",
        )  # fmt: skip
    beats = f"beats the naive predictor {where}: {summary}"
    if comparison is None:
        return GateDecision(True, f"promoted: {beats}; no champion judged on the same students")
    versus = (
        f"Brier difference to the champion (version {comparison.version}) {comparison.brier_difference:+.4f}, "
        f"90 % interval {list(comparison.interval)}, on {comparison.rows} rows neither learnt from"
    )
    if comparison.interval[1] > NON_INFERIORITY:
        return GateDecision(False, f"not promoted: {beats}, but may be worse than the champion: {versus}")
    return GateDecision(True, f"promoted: {beats}; not worse than the champion: {versus}")


def rescore_champion(fitted: FittedStages, champion: LoadedModel) -> dict[str, dict[str, float]]:
    """The champion, as deployed, scored on the held-out parts of the challenger's folds."""
    scores: dict[str, dict[str, float]] = {}
    for ev in fitted.evaluations:
        subset, data = fitted.data[ev.stage.name]
        probability = champion.model.fail_probability_at(subset, ev.stage.name)
        if probability is not None:
            scores[ev.stage.name] = ev.score_other(data, probability)
    return scores


def compare_with_champion(validation: Validation, champion: LoadedModel) -> ChampionComparison | None:
    """The champion scored on the rows the challenger was judged on, when it did not learn from them either."""
    if not validation.on_own_students or validation.inputs.empty:
        return None
    learnt_from = champion.model.metadata.get("periods")
    if validation.method == "held-out period" and isinstance(learnt_from, list) and validation.held_out in learnt_from:
        return None  # it learnt from the held-out period: its scores there would be in-sample
    theirs = champion.score(validation.inputs)["fail_probability"].to_numpy(dtype=float)
    judged = validation.rows
    groups = student_groups(judged) if "report_date" in judged else None
    difference, interval = paired_brier_difference(
        judged["fail"].to_numpy(dtype=int),
        judged["probability"].to_numpy(dtype=float),
        np.nan_to_num(theirs, nan=float(judged["fail"].mean())),
        groups if groups is not None else np.arange(len(judged)),
    )
    return ChampionComparison(champion.version, difference, interval, len(judged))


def judge(
    fitted: FittedStages, validation: Validation, champion: LoadedModel | None, unreadable: str | None = None
) -> tuple[GateDecision, dict[str, dict[str, float]]]:
    """The gate's decision on a challenger, and the champion's metrics per stage on the challenger's folds (for
    the record). ``unreadable``: why a champion exists but could not be loaded."""
    champion_metrics = rescore_champion(fitted, champion) if champion else {}
    if validation.on_own_students:
        comparison = compare_with_champion(validation, champion) if champion else None
        decision = decide_on_own_students(validation, comparison)
        if champion and comparison is None:
            decision = GateDecision(decision.promoted, decision.reason + " (the champion learnt from these students)")
    else:
        decision = decide(
            fitted.evaluations, champion_metrics or None, champion.version if champion else None, unreadable
        )
        if champion and champion_metrics and champion.model.data_fingerprint == fitted.fingerprint:
            decision = GateDecision(
                decision.promoted,
                decision.reason + " (the champion was trained on this same data, so its scores here are in-sample)",
            )
    return decision, champion_metrics
