"""The MLflow pyfunc form of a :class:`FailRiskModel`, with an explicit signature."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.ml.model import FailRiskModel

# Numbers and yes/no values as doubles (missing = NaN), the form the pipelines read them in.
_MLFLOW_TYPE = {"category": "string", "string": "string", "boolean": "double", "integer": "double", "number": "double"}


class FailRiskPyfunc(PythonModel):
    """Holds every stage's pipelines; ``predict`` returns the per-student scoring frame."""

    # The explicit signature validates inputs; MLflow's type-hint validation would only warn about these hints.
    _skip_type_hint_validation = True

    def __init__(self, model: FailRiskModel) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.model.predict(pd.DataFrame(model_input))


def pyfunc_input(frame: pd.DataFrame) -> pd.DataFrame:
    """A validated frame (nullable pandas dtypes) in the plain dtypes MLflow's schema check accepts."""
    catalog = load_catalog().by_name
    out = {}
    for name in frame.columns:
        column = catalog.get(name)
        values = frame[name]
        if name in ("grade_max", "pass_mark") or (column is not None and _MLFLOW_TYPE.get(column.type) == "double"):
            out[name] = pd.to_numeric(values.astype(object).where(values.notna(), None), errors="coerce").astype(float)
        elif column is not None and column.type in ("category", "string"):
            out[name] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out, index=frame.index)


def signature(model: FailRiskModel) -> ModelSignature:
    """Keys and grade scale required; every feature optional (each stage uses what it has)."""
    catalog = load_catalog()
    used = {c for stage in model.stages.values() for c in stage.columns}
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", "user_id"),
        ColSpec("string", "course_id"),
        ColSpec("string", "period_id", required=False),
        ColSpec("double", "grade_max"),
        ColSpec("double", "pass_mark"),
    ]
    inputs += [ColSpec(_MLFLOW_TYPE[c.type], c.name, required=False) for c in catalog.columns if c.name in used]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", "user_id"),
        ColSpec("string", "course_id"),
        ColSpec("string", "period_id", required=False),
        ColSpec("double", "fail_probability"),
        ColSpec("double", "predicted_final_grade"),
        ColSpec("string", "top_factors"),
        ColSpec("string", "background_factors", required=False),
        ColSpec("string", "factors", required=False),
        ColSpec("string", "data_gaps", required=False),
        ColSpec("string", "signals_available"),
        ColSpec("string", "stage", required=False),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))
