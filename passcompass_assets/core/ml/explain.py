"""Fail probability and each input's effect on it, per student, and the strongest effects in plain words.

An input's effect is how much the student's fail probability would drop (or rise) if that one input were
typical (the training average), everything else unchanged. It comes from each input's additive share of the
fail log-odds:

- logistic models: coefficient x (the student's encoded value - the typical student's), which is exact;
- boosted trees: shap's per-tree path attribution (Saabas), one pass over the trees. Exact TreeSHAP ranks
  the factors almost identically (correlation 0.99 on UCI) at seven times the cost, too slow for a million
  students in seconds.

Blends average their members' effects as they average their probabilities. An input's encoded columns (its
missing-value flag, one-hot levels, derived grade margins) add up to that input; the interim trend is shared
by the two interim grades it is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.ml.features import COURSE, DERIVED_FROM, PASS_FRACTION
from passcompass_assets.core.ml.wording import Choice
from passcompass_assets.core.records import TERM_WEEK

if TYPE_CHECKING:
    import shap

TOP_FACTORS = 3
MIN_EFFECT = 0.01  # a factor must move the probability by at least one percentage point to be named
FACTOR_SEPARATOR = "; "  # between a student's reasons in text (a reason's own sentence never holds it)
CORRELATED = 0.8  # inputs correlated this much (Spearman) in training are named together
# Per input, the value of the average training student: a mean (numbers) or the most frequent value (categories).
Typical = dict[str, float | str]


def typical_values(inputs: pd.DataFrame, columns: list[str]) -> Typical:
    """The average training student: mean of numeric inputs (the reference the tree attribution measures
    against too), most frequent value of the others."""
    typical: Typical = {}
    for name in [*columns, PASS_FRACTION]:
        values = inputs[name].dropna() if name in inputs.columns else pd.Series(dtype=float)
        if values.empty:
            continue
        typical[name] = float(values.mean()) if pd.api.types.is_numeric_dtype(values) else values.mode().iloc[0]
    return typical


def assess(
    classifier: BaseEstimator, inputs: pd.DataFrame, typical: Typical, *, explain: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Fail probability per row and, with ``explain``, the effect of each of ``inputs``' columns on it
    (rows x columns, probability points; > 0: this input, as it is, raises the risk)."""
    probability = np.zeros(len(inputs))
    effects = np.zeros(inputs.shape) if explain else None
    reference = _typical_row(inputs, typical) if explain else None
    for member, weight in _members(classifier):
        preprocess, estimator = member[:-1], member[-1]
        encoded = preprocess.transform(inputs)
        if effects is None:
            probability += weight * estimator.predict_proba(encoded)[:, 1]
            continue
        logit, shares = _log_odds(estimator, encoded, preprocess.transform(reference))
        by_input = shares @ _encoded_to_inputs(preprocess, list(inputs.columns))
        member_probability = expit(logit)
        probability += weight * member_probability
        effects += weight * (member_probability[:, None] - expit(logit[:, None] - by_input))
    return probability, effects


def _members(classifier: BaseEstimator) -> list[tuple[Pipeline, float]]:
    """(preprocessing + estimator pipeline, vote weight) per member; a single pipeline is its own member."""
    if isinstance(classifier, VotingClassifier):
        weights = np.asarray(classifier.weights or [1.0] * len(classifier.estimators_), dtype=float)
        return list(zip(classifier.estimators_, weights / weights.sum(), strict=True))
    return [(classifier, 1.0)]


def _typical_row(inputs: pd.DataFrame, typical: Typical) -> pd.DataFrame:
    row = {name: [typical.get(name, np.nan)] for name in inputs.columns}
    if PASS_FRACTION in inputs.columns and PASS_FRACTION not in typical:  # models trained before it was kept
        row[PASS_FRACTION] = [float(inputs[PASS_FRACTION].median())]
    return pd.DataFrame(row).astype(inputs.dtypes.to_dict())


def _log_odds(model: BaseEstimator, encoded: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fail log-odds per row and each encoded column's additive share of it (rows x encoded columns)."""
    if isinstance(model, Pipeline):  # e.g. a feature selector before a logistic regression
        logit, selected = _log_odds(model[-1], model[:-1].transform(encoded), model[:-1].transform(reference))
        for _, step in reversed(model.steps[:-1]):
            selected = step.inverse_transform(selected)  # unselected columns get zero
        return logit, selected
    if isinstance(model, LogisticRegression):
        return model.decision_function(encoded), model.coef_[0] * (encoded - reference)
    if isinstance(model, HistGradientBoostingClassifier):
        # The shares add up exactly to the trees' log-odds, and shap walks the trees row by row, ten times
        # faster than scikit-learn's tree-by-tree prediction: the probability comes from them.
        explainer = _tree_explainer(model)
        shares = np.asarray(explainer.shap_values(encoded, approximate=True, check_additivity=False))
        shares = shares.reshape(encoded.shape)
        return float(np.ravel(explainer.expected_value)[0]) + shares.sum(axis=1), shares
    raise TypeError(f"no attribution for {type(model).__name__}: add it to explain._log_odds")


@lru_cache(maxsize=32)
def _tree_explainer(model: HistGradientBoostingClassifier) -> shap.TreeExplainer:
    import shap  # a second to import: only scoring a tree model needs it

    return shap.TreeExplainer(model)  # reads every tree: once per fitted model, not per course


def _encoded_to_inputs(preprocess: Pipeline, columns: list[str]) -> np.ndarray:
    """Encoded columns x inputs: which input each encoded column belongs to (shares for derived ones)."""
    names = preprocess[-1][-1].get_feature_names_out()  # the ColumnTransformer ending the preprocessing
    matrix = np.zeros((len(names), len(columns)))
    position = {name: i for i, name in enumerate(columns)}
    for row, encoded_name in enumerate(names):
        name = encoded_name.split("__", 1)[1].removeprefix("missingindicator_")
        sources = DERIVED_FROM.get(name) or [max((c for c in columns if _encodes(name, c)), key=len, default=name)]
        for source in sources:
            if source not in position:
                raise ValueError(f"encoded column {encoded_name} belongs to no input of {columns}")
            matrix[row, position[source]] = 1.0 / len(sources)
    return matrix


def _encodes(encoded: str, column: str) -> bool:
    return encoded == column or encoded.startswith(column + "_")


@dataclass(frozen=True)
class Wording:
    """What a stage model knows to word its factors: inputs it names together, and which way each input went
    with failing among the training rows."""

    groups: tuple[tuple[str, ...], ...] = ()  # inputs correlated in training: one factor ("attendance and absences")
    directions: dict[str, int] = field(default_factory=dict)  # +1: a higher value went with more failing; -1: less


def wording_of(inputs: pd.DataFrame, fail: np.ndarray, columns: list[str], sample: int = 20_000) -> Wording:
    """The groups of inputs correlated beyond :data:`CORRELATED` (Spearman), and each input's direction with
    failing, on (a sample of) the training rows."""
    numeric = [c for c in columns if c in inputs and pd.api.types.is_numeric_dtype(inputs[c]) and c != TERM_WEEK]
    if not numeric:
        return Wording()
    rows = np.random.default_rng(0).permutation(len(inputs))[:sample]
    frame = inputs.iloc[rows][numeric].assign(__fail=fail[rows])
    correlation = frame.corr(method="spearman")
    directions = {
        c: int(np.sign(r)) for c, r in correlation["__fail"].drop("__fail").items() if np.isfinite(r) and abs(r) >= 0.05
    }
    owner = {c: c for c in numeric}

    def root(c: str) -> str:
        while owner[c] != c:
            c = owner[c]
        return c

    for i, first in enumerate(numeric):
        for second in numeric[i + 1 :]:
            r = correlation.at[first, second]
            if np.isfinite(r) and abs(r) >= CORRELATED:
                owner[root(second)] = root(first)
    groups: dict[str, list[str]] = {}
    for c in numeric:
        groups.setdefault(root(c), []).append(c)
    return Wording(tuple(tuple(g) for g in groups.values() if len(g) > 1), directions)


def top_factors(
    effects: np.ndarray,
    inputs: pd.DataFrame,
    typical: Typical,
    *,
    wording: Wording | None = None,
    top: int = TOP_FACTORS,
) -> Choice:
    """Per row, the candidate factors an instructor can act on and the candidates the student brings along
    (``actionable: false`` in the catalog, e.g. past failures), each raising the fail probability by at least
    ``MIN_EFFECT``, strongest first (core/reports/wording.py words them, keeping ``top`` whose values it can say).
    Only what raises the risk is a reason: a factor that lowers it is never named. Inputs correlated in training
    are one factor; a factor whose direction contradicts what the training data showed (attendance high raising
    risk, as collinear inputs can make a model say) is not named; a missing value is imputed, so there is nothing
    about the student to name."""
    wording = wording or Wording()
    catalog = load_catalog().by_name
    # The term position changes everyone's risk alike and is nothing to act on: never a named factor.
    # Nor is the course: it is where the student is, not something about them.
    names = [n for n in inputs.columns if n in typical and n not in (PASS_FRACTION, TERM_WEEK, COURSE) and n in catalog]
    grouped = {n for group in wording.groups for n in group}
    units = [g for g in wording.groups if all(n in names for n in g)] + [(n,) for n in names if n not in grouped]
    if not units:
        none = np.full((len(inputs), 0), -1)
        return Choice([], none, none.copy(), np.zeros((len(inputs), 0)), {})
    medians = {n: float(inputs[n].median()) for n in names if pd.api.types.is_numeric_dtype(inputs[n])}
    position = {n: inputs.columns.get_loc(n) for n in names}
    own = {n: np.where(inputs[n].isna().to_numpy(), 0.0, effects[:, position[n]]) for n in names}
    strength = np.zeros((len(inputs), len(units)))
    for k, unit in enumerate(units):
        for name in unit:
            strength[:, k] += own[name]
        # The side of the course median it says (what the reason shows), else of the typical student.
        expected = _expected_sign(unit, inputs, {**typical, **medians}, wording.directions)
        if expected is not None:  # against what the training rows showed: not a reason (collinearity, noise)
            strength[:, k] = np.where((expected == 0) | (np.sign(strength[:, k]) == expected), strength[:, k], 0.0)
    actionable = np.array([any(catalog[n].actionable for n in unit) for unit in units])
    # Twice as many candidates as will be said: the wording drops those it cannot say honestly.
    return Choice(
        units,
        _candidates(strength, actionable, 2 * top),
        _candidates(strength, ~actionable, 4),
        strength,
        own,
        {n: typical[n] for n in names if n in typical},
    )


def _candidates(strength: np.ndarray, keep: np.ndarray, count: int) -> np.ndarray:
    """Per row, up to ``count`` unit indices among ``keep`` raising the risk by at least MIN_EFFECT, strongest
    first; -1 fills the rest."""
    raising = np.where(keep[None, :] & (strength >= MIN_EFFECT), strength, 0.0)
    order = np.argsort(-raising, axis=1, kind="stable")[:, :count]
    picked = np.take_along_axis(raising, order, axis=1)
    return np.where(picked >= MIN_EFFECT, order, -1)


def _expected_sign(
    unit: tuple[str, ...], inputs: pd.DataFrame, references: Typical, directions: dict[str, int]
) -> np.ndarray | None:
    """Per row, the sign a factor's effect should have by the training data's directions: +1 when its inputs'
    values lie on the side of ``references`` that went with failing, -1 on the other, 0 when they point both ways;
    None when no input of the factor has a known direction."""
    votes = np.zeros(len(inputs))
    known = False
    for name in unit:
        direction = directions.get(name)
        reference = references.get(name)
        if not direction or not isinstance(reference, int | float):
            continue
        known = True
        values = inputs[name].to_numpy(dtype=float)
        votes += np.where(np.isnan(values), 0.0, np.sign(values - float(reference)) * direction)
    return np.sign(votes) if known else None
