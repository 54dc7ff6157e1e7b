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

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import shap
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.ml.features import DERIVED_FROM, PASS_FRACTION, TERM_WEEK

TOP_FACTORS = 3
MIN_EFFECT = 0.01  # a factor must move the probability by at least one percentage point to be named
FACTOR_SEPARATOR = "; "
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


def describe(name: str, value: Any, typical: Any, effect: float) -> str:
    """E.g. "first interim grade low (raises risk)", "wants to take higher education: no (raises risk)"."""
    column = load_catalog()[name]
    if column.type == "boolean":
        words = f"{column.description}: {'yes' if float(value) >= 0.5 else 'no'}"
    elif column.type == "category":
        words = f"{column.description}: {str(value).replace('_', ' ')}"
    else:
        per_week = " per week" if column.accumulates else ""  # model_frame made the count a rate
        words = f"{column.description}{per_week} {'low' if float(value) < float(typical) else 'high'}"
    return f"{words} ({'raises' if effect > 0 else 'lowers'} risk)"


def top_factors(effects: np.ndarray, inputs: pd.DataFrame, typical: Typical, *, top: int = TOP_FACTORS) -> np.ndarray:
    """Per row, up to ``top`` factors of at least ``MIN_EFFECT``, strongest first, joined by ``FACTOR_SEPARATOR``
    (text, not a list per row: a million small lists cost more in garbage collection than the scoring itself).
    A missing value is imputed, so there is nothing about the student to name: it is never a factor."""
    # The term position changes everyone's risk alike and is nothing to act on: never a named factor.
    names = [name for name in inputs.columns if name in typical and name not in (PASS_FRACTION, TERM_WEEK)]
    if not names:
        return np.full(len(inputs), "", dtype=object)
    chosen = effects[:, [inputs.columns.get_loc(name) for name in names]]
    chosen = np.where(inputs[names].isna().to_numpy(), 0.0, chosen)
    order = np.argsort(-np.abs(chosen), axis=1, kind="stable")[:, :top]
    rows = np.arange(len(inputs))
    joined = pd.Series("", index=range(len(inputs)), dtype=object)
    for rank in range(order.shape[1]):
        column, effect = order[:, rank], chosen[rows, order[:, rank]]
        text = np.full(len(inputs), "", dtype=object)
        for k, name in enumerate(names):
            picked = np.flatnonzero((column == k) & (np.abs(effect) >= MIN_EFFECT))
            if picked.size:
                text[picked] = _describe_rows(name, inputs[name].to_numpy()[picked], typical[name], effect[picked])
        separator = np.where((joined != "") & (text != ""), FACTOR_SEPARATOR, "")
        joined = joined + separator + text
    return joined.to_numpy()


def _describe_rows(name: str, values: np.ndarray, typical: float | str, effects: np.ndarray) -> np.ndarray:
    """:func:`describe` for many rows of one input, calling it once per distinct wording."""
    kind = load_catalog()[name].type
    if kind == "category":
        key = pd.factorize(values)[0]
    elif kind == "boolean":
        key = (values.astype(float) >= 0.5).astype(int)
    else:
        key = (values.astype(float) < float(typical)).astype(int)
    key = 2 * key + (effects > 0)
    _, first, codes = np.unique(key, return_index=True, return_inverse=True)
    texts = np.array([describe(name, values[i], typical, effects[i]) for i in first], dtype=object)
    return texts[codes.reshape(-1)]
