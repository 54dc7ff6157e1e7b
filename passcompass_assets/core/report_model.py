"""The model a report uses: the champion; failing that, the latest registered model, marked low confidence.

Reports name the model version, its validation metrics and the quality-gate state, read from the MLflow registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException

from passcompass_assets.core.ml import score
from passcompass_assets.core.ml.model import FailRiskModel
from passcompass_assets.core.ml.tracking import CHAMPION, REGISTERED_MODEL, client_for
from passcompass_assets.core.settings import Settings

# The validation metrics a report header shows, per stage: ``<stage>.model.<metric>`` in MLflow.
HEADER_METRICS = ("roc_auc", "brier", "accuracy", "grade_rmse")


@dataclass
class ReportModel:
    model: FailRiskModel
    info: dict[str, object] = field(default_factory=dict)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        return score(frame, self.model)


def _header_metrics(run_metrics: dict[str, float]) -> dict[str, float]:
    chosen = {}
    for key, value in sorted(run_metrics.items()):
        stage, _, rest = key.partition(".")
        who, _, metric = rest.partition(".")
        if who == "model" and metric in HEADER_METRICS:
            chosen[f"{stage} {metric}"] = round(value, 3)
    return chosen


def load_report_model(settings: Settings) -> ReportModel | None:
    """The champion, else the newest registered version (not promoted: low confidence), else None."""
    client = client_for(settings)
    promoted = True
    try:
        version = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    except MlflowException:
        promoted = False
        try:
            versions = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
        except MlflowException:
            return None
        if not versions:
            return None
        version = max(versions, key=lambda v: int(v.version))
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version.version}")
    metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
    reason = version.tags.get("gate.reason", "")
    gate = f"passed: {reason}" if promoted else f"not passed: {reason}" if reason else "not passed"
    return ReportModel(
        model=loaded.unwrap_python_model().model,
        info={
            "version": str(version.version),
            "promoted": promoted,
            "gate": gate,
            "metrics": _header_metrics(metrics),
        },
    )
