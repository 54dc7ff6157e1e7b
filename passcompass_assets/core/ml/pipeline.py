"""Candidate estimators: a shared preprocessing of the model inputs, then one model each.

Classifiers: a regularised logistic regression on every input, a sparse one on the five inputs most
associated with failing, one on the grades alone (the teacher's view), and shallow gradient boosting; plus
soft-vote blends of them, whose cross-validated predictions are the average of their members' (no extra
fits). Regressors of the final grade (as a share of the scale): ridge, gradient boosting and their blend.
All optimise log-loss or squared error, so their probabilities are calibrated by construction; the Brier
score measures how well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from passcompass_assets.core.ml.features import GRADE_COLUMNS, derive, derived_columns

SEED = 20080401
SPARSE_K = 5
BLEND = "+"  # a candidate named "a+b" is the soft vote of candidates a and b


def preprocessor(columns: list[str]) -> Pipeline:
    """Derived grade features, median imputation with missing-value flags, scaling, one-hot categories.

    Scaling is monotonic, so the tree models see the same splits as unscaled; one preprocessor serves all.
    """
    numeric, categorical = derived_columns(columns)
    encode = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore", drop="if_binary"),
    )
    transform = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
            ("categorical", encode, categorical),
        ],
        sparse_threshold=0.0,
    )
    return make_pipeline(FunctionTransformer(derive), transform)


def _all(columns: list[str]) -> list[str]:
    return columns


def _grades(columns: list[str]) -> list[str]:
    return [c for c in columns if c in GRADE_COLUMNS]


def _boosting_classifier() -> BaseEstimator:
    return HistGradientBoostingClassifier(
        max_iter=80, learning_rate=0.06, max_depth=2, min_samples_leaf=15, l2_regularization=1.0, max_bins=32,
        random_state=SEED,
    )  # fmt: skip


def _boosting_regressor() -> BaseEstimator:
    return HistGradientBoostingRegressor(
        max_iter=60, learning_rate=0.1, max_depth=3, min_samples_leaf=15, l2_regularization=1.0, max_bins=32,
        random_state=SEED,
    )  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    name: str
    model: Callable[[], BaseEstimator]  # what follows the preprocessing
    inputs: Callable[[list[str]], list[str]] = _all  # the columns it uses; none = does not apply


CLASSIFIERS = {
    c.name: c
    for c in (
        Candidate("logistic", lambda: LogisticRegression(C=1.0, max_iter=2000)),
        # k best by F-test inside the pipeline, so the selection is redone on every training fold
        Candidate(
            "sparse_logistic",
            lambda: make_pipeline(SelectKBest(f_classif, k=SPARSE_K), LogisticRegression(C=1.0, max_iter=2000)),
        ),
        Candidate("grades_logistic", lambda: LogisticRegression(C=1.0, max_iter=2000), _grades),
        Candidate("gradient_boosting", _boosting_classifier),
    )
}
REGRESSORS = {
    c.name: c
    for c in (Candidate("ridge", lambda: Ridge(alpha=1.0)), Candidate("gradient_boosting", _boosting_regressor))
}


def applicable(table: dict[str, Candidate], columns: list[str]) -> list[str]:
    return [name for name, candidate in table.items() if candidate.inputs(columns)]


def blends(names: list[str]) -> list[str]:
    """Every soft-vote combination of two or more base candidates."""
    return [BLEND.join(combo) for size in range(2, len(names) + 1) for combo in combinations(names, size)]


def members(name: str) -> list[str]:
    return name.split(BLEND)


def _single(candidate: Candidate, columns: list[str]) -> Pipeline:
    inputs = candidate.inputs(columns)
    if not inputs:
        raise ValueError(f"candidate {candidate.name} does not apply to columns {columns}")
    return make_pipeline(preprocessor(inputs), candidate.model())


def build_classifier(name: str, columns: list[str]) -> BaseEstimator:
    parts = [(part, _single(CLASSIFIERS[part], columns)) for part in members(name)]
    return parts[0][1] if len(parts) == 1 else VotingClassifier(parts, voting="soft")


def build_regressor(name: str, columns: list[str]) -> BaseEstimator:
    parts = [(part, _single(REGRESSORS[part], columns)) for part in members(name)]
    return parts[0][1] if len(parts) == 1 else VotingRegressor(parts)
