"""The fairness audit on constructed data whose disparity is known: the numbers, the intervals, the suppression of
small groups, and the evaluation's group table after final grades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from passcompass_assets.core.ml.fairness import TOO_FEW, abroca, audit, groups_of


def _students(group: str, n: int, informative: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fail = (rng.random(n) < 0.3).astype(int)
    if informative:  # failing students get high probabilities, passing ones low: the high band finds them
        probability = np.clip(np.where(fail == 1, 0.75, 0.15) + rng.normal(0, 0.1, n), 0.01, 0.99)
    else:  # the model knows nothing about this group: middling probabilities, never high
        probability = np.clip(0.3 + rng.normal(0, 0.05, n), 0.01, 0.45)
    return pd.DataFrame(
        {"student": [f"{group}{i}" for i in range(n)], "group": group, "fail": fail, "probability": probability}
    )


def test_a_known_disparity_is_measured_and_flagged() -> None:
    frame = pd.concat(
        [_students("A", 400, True, 1), _students("B", 400, False, 2), _students("C", 8, True, 3)], ignore_index=True
    )
    result = audit(frame, ["group"], high_risk=0.5, min_group=20)
    [attribute] = result.attributes
    by_group = {g.group: g for g in attribute.groups}
    a, b, c = by_group["A"], by_group["B"], by_group["C"]
    assert a.values["high_recall"] == pytest.approx(1.0, abs=0.03) and b.values["high_recall"] == 0.0
    assert b.values["flag_rate"] == 0.0 and a.values["flag_rate"] == pytest.approx(0.3, abs=0.06)
    low, high = a.intervals["high_recall"] or (0, 0)
    assert low <= a.values["high_recall"] <= high  # type: ignore[operator]
    assert a.values["fail_rate"] == pytest.approx(0.3, abs=0.06)
    # C has 8 students: "too few to report", and no number at all.
    assert not c.reported and c.values == {} and c.intervals == {} and c.students == 8
    assert attribute.recall_gap == pytest.approx(1.0, abs=0.03)
    assert attribute.abroca is not None and attribute.abroca > 0.2 and attribute.abroca_p == 0.0
    assert attribute.disparity and result.disparities == ["group"]
    assert TOO_FEW in result.note or "not reported" in result.note


def test_equal_groups_show_no_disparity() -> None:
    frame = pd.concat([_students("A", 500, True, 4), _students("B", 500, True, 5)], ignore_index=True)
    [attribute] = audit(frame, ["group"], high_risk=0.5).attributes
    assert not attribute.disparity
    assert attribute.abroca is not None and attribute.abroca < 0.05 and (attribute.abroca_p or 0) > 0.05
    assert attribute.recall_gap is not None and attribute.recall_gap < 0.1


def test_abroca_is_the_area_between_the_roc_curves() -> None:
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    perfect_and_inverted = np.array([0.1, 0.9, 0.2, 0.8, 0.9, 0.1, 0.8, 0.2])
    mine = np.array([True] * 4 + [False] * 4)
    assert abroca(y, perfect_and_inverted, mine) == pytest.approx(1.0, abs=0.01)  # ROC 1 against ROC 0
    assert abroca(y, np.tile([0.1, 0.9], 4), mine) == pytest.approx(0.0)


def test_abroca_matches_the_curves_of_sklearn_with_ties() -> None:
    """The sorted-once curves are sklearn's ``roc_curve`` points: ties (rounded probabilities) count as one step."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(7)
    y = (rng.random(3000) < 0.35).astype(int)
    p = np.round(np.clip(0.35 + 0.3 * (y - 0.35) + rng.normal(0, 0.2, 3000), 0, 1), 2)
    mine = rng.random(3000) < 0.3
    p[mine] = np.round(np.clip(p[mine] + rng.normal(0, 0.15, mine.sum()), 0, 1), 1)  # a worse-ranked group
    grid = np.linspace(0, 1, 1001)
    curves = [np.interp(grid, *roc_curve(y[part], p[part])[:2]) for part in (mine, ~mine)]
    expected = float(np.trapezoid(np.abs(curves[0] - curves[1]), grid))
    assert expected > 0.01 and abroca(y, p, mine) == pytest.approx(expected, abs=1e-9)


def test_numbers_are_banded_and_categories_kept() -> None:
    ages = pd.Series(np.arange(15, 45, dtype=float))
    assert groups_of(ages).nunique() == 3
    assert list(groups_of(pd.Series(["F", "M", None]))) == ["F", "M", None]
