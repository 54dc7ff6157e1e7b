"""Top contributing factors per student, in the catalog's plain words.

A factor's contribution is how much the student's fail probability moves when that one input is set to its
typical value (training median, or most frequent category) with everything else unchanged. This works for
every candidate model, costs one batched prediction per input, and reads as "compared with a typical student".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from passcompass_assets.core.catalog import load_catalog

TOP_FACTORS = 3
MIN_EFFECT = 0.01  # a factor must move the probability by at least one percentage point to be named
BLOCK_ROWS = 2000


def typical_values(inputs: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """Median of numeric inputs, most frequent value of the others (from the training inputs)."""
    typical: dict[str, object] = {}
    for name in columns:
        values = inputs[name].dropna()
        if values.empty:
            continue
        typical[name] = float(values.median()) if pd.api.types.is_numeric_dtype(values) else values.mode().iloc[0]
    return typical


def describe(name: str, value: Any, typical: Any, effect: float) -> str:
    """E.g. "first interim grade low (raises risk)", "wants to take higher education: no (raises risk)"."""
    column = load_catalog()[name]
    if column.type == "boolean":
        words = f"{column.description}: {'yes' if float(value) >= 0.5 else 'no'}"
    elif column.type == "category":
        words = f"{column.description}: {str(value).replace('_', ' ')}"
    else:
        words = f"{column.description} {'low' if float(value) < float(typical) else 'high'}"
    return f"{words} ({'raises' if effect > 0 else 'lowers'} risk)"


def top_factors(
    predict: Callable[[pd.DataFrame], np.ndarray],
    inputs: pd.DataFrame,
    typical: dict[str, object],
    *,
    top: int = TOP_FACTORS,
) -> list[list[str]]:
    """For each row of ``inputs``, up to ``top`` factors, strongest first."""
    factors: list[list[str]] = []
    for start in range(0, len(inputs), BLOCK_ROWS):  # bounded memory: inputs x copies per block
        factors += _block_factors(predict, inputs.iloc[start : start + BLOCK_ROWS], typical, top)
    return factors


def _block_factors(
    predict: Callable[[pd.DataFrame], np.ndarray], inputs: pd.DataFrame, typical: dict[str, object], top: int
) -> list[list[str]]:
    names = [name for name in typical if name in inputs.columns]
    if not names:
        return [[] for _ in range(len(inputs))]
    baseline = predict(inputs)
    # One prediction over every (input set to typical) copy, instead of one call per input.
    copies = []
    for name in names:
        copy = inputs.copy()
        copy[name] = typical[name]
        copies.append(copy)
    moved = predict(pd.concat(copies, ignore_index=True)).reshape(len(names), len(inputs))
    effects = baseline[None, :] - moved  # > 0: this input, as it is, raises the risk
    factors: list[list[str]] = []
    for row in range(len(inputs)):
        chosen: list[str] = []
        for k in np.argsort(-np.abs(effects[:, row])):
            if len(chosen) == top or abs(effects[k, row]) < MIN_EFFECT:
                break
            value = inputs[names[k]].iloc[row]
            if not pd.isna(value):  # a missing value is imputed; there is nothing about the student to name
                chosen.append(describe(names[k], value, typical[names[k]], float(effects[k, row])))
        factors.append(chosen)
    return factors
