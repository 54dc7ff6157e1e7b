"""The disaggregated analysis: how the warnings serve each group of students, with intervals.

For every ``audit`` column of the catalog (sex, age band, school, and any the institution marks), per group: how
many students, their fail rate, how many the high band flags, the recall and precision of the high band, its
false-positive rate, the Brier score and the calibration gap (mean probability minus fail rate), each with a 90 %
interval from a bootstrap over students; and ABROCA (the absolute area between the ROC curves of a group and the
rest, Gardner, Brooks and Baker 2019) with a permutation test. Point values come from fairlearn's ``MetricFrame``.
A group under the minimum size is shown as "too few to report", never with its numbers. Numeric audit columns are
cut in three bands of about equal size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from passcompass_assets.core.ml.pipeline import SEED

BOOTSTRAP = 100
PERMUTATIONS = 200
TOO_FEW = "too few to report"
Interval = tuple[float, float] | None


def _recall(y: np.ndarray, flagged: np.ndarray) -> float:
    return float(flagged[y == 1].mean()) if (y == 1).any() else float("nan")


def _precision(y: np.ndarray, flagged: np.ndarray) -> float:
    return float(y[flagged == 1].mean()) if (flagged == 1).any() else float("nan")


def _false_positive_rate(y: np.ndarray, flagged: np.ndarray) -> float:
    return float(flagged[y == 0].mean()) if (y == 0).any() else float("nan")


def _flag_rate(y: np.ndarray, flagged: np.ndarray) -> float:
    return float(flagged.mean()) if len(flagged) else float("nan")


def _fail_rate(y: np.ndarray, flagged: np.ndarray) -> float:
    return float(y.mean()) if len(y) else float("nan")


FLAG_METRICS = {
    "fail_rate": _fail_rate,
    "flag_rate": _flag_rate,
    "high_recall": _recall,
    "high_precision": _precision,
    "false_positive_rate": _false_positive_rate,
}


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")  # sklearn's brier_score_loss, without its checks


def _calibration_gap(y: np.ndarray, p: np.ndarray) -> float:
    return float(p.mean() - y.mean())


PROBABILITY_METRICS = {"brier": _brier, "calibration_gap": _calibration_gap}


@dataclass(frozen=True)
class GroupScores:
    group: str
    students: int
    reported: bool  # False: under the minimum size, "too few to report", no numbers
    values: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)


@dataclass(frozen=True)
class AttributeAudit:
    attribute: str
    groups: list[GroupScores]
    abroca: float | None  # the largest area between a group's ROC curve and the rest's
    abroca_group: str | None
    abroca_p: float | None  # share of permutations of the groups with an area at least as large
    recall_gap: float | None  # best minus worst high-band recall among reported groups
    disparity: bool


@dataclass(frozen=True)
class FairnessAudit:
    attributes: list[AttributeAudit]
    min_group: int
    high_risk: float
    rows: int
    note: str

    @property
    def disparities(self) -> list[str]:
        return [a.attribute for a in self.attributes if a.disparity]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def groups_of(values: pd.Series) -> pd.Series:
    """Group labels of an audit column: its categories, or three bands of a number (e.g. "17-18")."""
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > 6:
        numbers = pd.to_numeric(values, errors="coerce")
        edges = np.unique(np.nanquantile(numbers, [0, 1 / 3, 2 / 3, 1]))
        if len(edges) > 2:
            banded = pd.cut(numbers, edges, include_lowest=True, duplicates="drop")
            return banded.map(lambda b: f"{b.left:g}-{b.right:g}" if pd.notna(b) else None).astype(object)
    return values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v))


class RocCurves:
    """ROC curves of subsets of one scored sample, the sample sorted once: the permutation test draws hundreds of
    subsets, and each curve is then two cumulative sums (the points of sklearn's ``roc_curve``, ties as one step)."""

    GRID = np.linspace(0, 1, 1001)

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        self.order = np.argsort(-p, kind="stable")
        ranked = p[self.order]
        self.positive = y[self.order] == 1
        # The last row of each run of equal probabilities: a threshold's point counts the whole tie.
        self.steps = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]

    def tpr_on_grid(self, part: np.ndarray) -> np.ndarray | None:
        """The true-positive rate at each false-positive rate of ``GRID``, for the rows where ``part``; None when they
        hold one class only."""
        chosen = part[self.order]
        tp = np.cumsum(chosen & self.positive)[self.steps]
        fp = np.cumsum(chosen & ~self.positive)[self.steps]
        if tp[-1] == 0 or fp[-1] == 0:
            return None
        return np.interp(self.GRID, np.r_[0, fp / fp[-1]], np.r_[0, tp / tp[-1]])

    def abroca(self, mine: np.ndarray) -> float | None:
        """The absolute area between the ROC curves of the rows in ``mine`` and of the others."""
        first, second = self.tpr_on_grid(mine), self.tpr_on_grid(~mine)
        if first is None or second is None:
            return None
        return float(np.trapezoid(np.abs(first - second), self.GRID))


def abroca(y: np.ndarray, p: np.ndarray, mine: np.ndarray) -> float | None:
    """The absolute area between the ROC curves of the rows in ``mine`` and of the others."""
    return RocCurves(y, p).abroca(mine)


def _bootstrap(
    y: np.ndarray, p: np.ndarray, flagged: np.ndarray, student: np.ndarray, rng: np.random.Generator
) -> dict[str, Interval]:
    unique, inverse = np.unique(student, return_inverse=True)
    rows = np.arange(len(student))
    samples: dict[str, list[float]] = {name: [] for name in (*FLAG_METRICS, *PROBABILITY_METRICS)}
    for _ in range(BOOTSTRAP):
        # Students drawn with replacement; each drawn student's rows, as often as they were drawn.
        drawn = np.bincount(rng.integers(0, len(unique), len(unique)), minlength=len(unique))
        picked = np.repeat(rows, drawn[inverse])
        for name, metric in FLAG_METRICS.items():
            samples[name].append(metric(y[picked], flagged[picked]))
        for name, probability_metric in PROBABILITY_METRICS.items():
            samples[name].append(probability_metric(y[picked], p[picked]))
    intervals: dict[str, Interval] = {}
    for name, values in samples.items():
        finite = np.asarray(values)[np.isfinite(values)]
        intervals[name] = (
            (round(float(np.percentile(finite, 5)), 4), round(float(np.percentile(finite, 95)), 4))
            if len(finite)
            else None
        )
    return intervals


def audit_attribute(
    frame: pd.DataFrame,
    attribute: str,
    *,
    high_risk: float,
    min_group: int,
    abroca_threshold: float,
    recall_gap_threshold: float,
    seed: int = SEED,
) -> AttributeAudit:
    """``frame``: one row per student (and report date) with ``fail`` (1/0), ``probability``, ``student`` (who, for
    the bootstrap) and the attribute."""
    rng = np.random.default_rng(seed)
    labels = groups_of(frame[attribute])
    known = labels.notna().to_numpy()
    y = frame["fail"].to_numpy(dtype=int)[known]
    p = frame["probability"].to_numpy(dtype=float)[known]
    flagged = (p >= high_risk).astype(int)
    student = frame["student"].to_numpy()[known]
    group = labels.to_numpy()[known].astype(str)
    sensitive = pd.Series(group, name=attribute)
    points = MetricFrame(metrics=dict(FLAG_METRICS), y_true=y, y_pred=flagged, sensitive_features=sensitive).by_group
    probability_points = MetricFrame(
        metrics=dict(PROBABILITY_METRICS), y_true=y, y_pred=p, sensitive_features=sensitive
    ).by_group
    rows: list[GroupScores] = []
    reported: list[str] = []
    worst: tuple[float | None, str | None] = (None, None)
    curves = RocCurves(y, p)
    for name in sorted(np.unique(group)):
        mine = group == name
        students = len(np.unique(student[mine]))
        if students < min_group:
            rows.append(GroupScores(name, students, False))
            continue
        reported.append(name)
        values = {**points.loc[name].to_dict(), **probability_points.loc[name].to_dict()}
        clean = {k: None if not np.isfinite(v) else round(float(v), 4) for k, v in values.items()}
        area = curves.abroca(mine) if (~mine).any() else None
        clean["abroca_vs_rest"] = None if area is None else round(area, 4)
        if area is not None and (worst[0] is None or area > worst[0]):
            worst = (area, name)
        rows.append(
            GroupScores(name, students, True, clean, _bootstrap(y[mine], p[mine], flagged[mine], student[mine], rng))
        )
    area, worst_group = worst
    p_value = None
    if area is not None and worst_group is not None:
        mine = group == worst_group
        permuted = [curves.abroca(rng.permutation(mine)) for _ in range(PERMUTATIONS)]
        finite = [a for a in permuted if a is not None]
        p_value = round(float(np.mean([a >= area for a in finite])), 4) if finite else None
    recalls = [float(v) for r in rows if r.reported and (v := r.values.get("high_recall")) is not None]
    recall_gap = round(max(recalls) - min(recalls), 4) if len(recalls) >= 2 else None
    disparity = bool(
        (area is not None and area > abroca_threshold and p_value is not None and p_value < 0.05)
        or (recall_gap is not None and recall_gap > recall_gap_threshold)
    )
    return AttributeAudit(
        attribute, rows, None if area is None else round(area, 4), worst_group, p_value, recall_gap, disparity
    )


def audit(
    frame: pd.DataFrame,
    attributes: list[str],
    *,
    high_risk: float,
    min_group: int = 20,
    abroca_threshold: float = 0.1,
    recall_gap_threshold: float = 0.2,
) -> FairnessAudit:
    """Every attribute of ``attributes`` that ``frame`` carries, audited (see the module docstring)."""
    present = [a for a in attributes if a in frame.columns and frame[a].notna().any()]
    results = [
        audit_attribute(
            frame,
            attribute,
            high_risk=high_risk,
            min_group=min_group,
            abroca_threshold=abroca_threshold,
            recall_gap_threshold=recall_gap_threshold,
        )
        for attribute in present
    ]
    missing = sorted(set(attributes) - set(present))
    note = f"groups under {min_group} students are not reported" + (
        f"; no data for {', '.join(missing)}" if missing else ""
    )
    return FairnessAudit(results, min_group, high_risk, len(frame), note)


def with_students(judged: pd.DataFrame) -> pd.DataFrame:
    """The ``student`` column the bootstrap resamples by: a student's rows at several dates stay together."""
    return judged.assign(
        student=judged["user_id"].astype(str)
        + "|"
        + judged["course_id"].astype(str)
        + "|"
        + judged["period_id"].astype(str)
    )
