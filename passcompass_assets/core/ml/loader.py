"""The one way to load a trained model from the MLflow registry, with what a report says about it.

Reports use the champion; failing that, the newest registered version, marked low confidence. The quality gate
compares a challenger with the champion only. :class:`ModelInfo` (version, gate state, metrics, and the confidence
note a report carries) is the loader's word on a model, so the report layer reads it from here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # MLflow and the model (with shap) take seconds to import: only loading needs them, not the
    # report layer and the API, which import this module for ModelInfo.
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

    from passcompass_assets.core.ml.model import FailRiskModel
    from passcompass_assets.core.settings import Settings

# The validation metrics a report header shows, per stage: ``<stage>.model.<metric>`` in MLflow.
HEADER_METRICS = ("roc_auc", "brier", "accuracy", "grade_rmse")
LOW_CONFIDENCE = (
    "Low confidence: no model has passed the quality gate, so these probabilities are not validated "
    "to be better than a naive guess. Use them with care."
)
NOT_VALIDATED = (
    "Low confidence: not yet validated on this institution's students. The model passed its quality gate on "
    "the data it had, but none of it was this institution's own labelled students at this point of a term. "
    "Use the probabilities with care until a term's final grades are in."
)


@dataclass(frozen=True)
class ModelInfo:
    """What a report says about the model that scored it."""

    version: str | None = None
    promoted: bool = False
    gate: str = "no model has been trained"  # the quality gate's state, in plain words
    metrics: dict[str, float] = field(default_factory=dict)  # validation metrics shown in the header
    validated: bool = True  # measured on the institution's own students (models from before say nothing)
    # How it did on students it had not seen (core/ml/own_students.py's document: method, overall, weeks).
    validation: dict[str, object] | None = None

    @property
    def confidence(self) -> str:
        return "normal" if self.promoted and self.validated else "low"

    @property
    def warning(self) -> str | None:
        if not self.promoted:
            return LOW_CONFIDENCE
        return None if self.validated else NOT_VALIDATED


@dataclass
class LoadedModel:
    """A registered model version, ready to score, and what a report says about it."""

    model: FailRiskModel
    info: ModelInfo
    run_id: str | None

    @property
    def version(self) -> str:
        return str(self.info.version)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict(frame)


def _header_metrics(run_metrics: dict[str, float]) -> dict[str, float]:
    chosen = {}
    for key, value in sorted(run_metrics.items()):
        stage, _, rest = key.partition(".")
        who, _, metric = rest.partition(".")
        if who == "model" and metric in HEADER_METRICS:
            chosen[f"{stage} {metric}"] = round(value, 3)
    return chosen


def _version(settings: Settings, *, champion_only: bool) -> tuple[ModelVersion, bool] | None:
    """(version, promoted): the champion, else (unless ``champion_only``) the newest registered version."""
    from mlflow.exceptions import MlflowException

    from passcompass_assets.core.ml.tracking import CHAMPION, REGISTERED_MODEL, client_for

    client = client_for(settings)
    try:
        return client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION), True
    except MlflowException:
        if champion_only:
            return None
    try:
        versions = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    except MlflowException:
        return None
    return (max(versions, key=lambda v: int(v.version)), False) if versions else None


def load_model(settings: Settings, *, champion_only: bool = False) -> LoadedModel | None:
    """The champion, else (unless ``champion_only``) the newest registered version, marked not promoted;
    None when there is none. :class:`~passcompass_assets.core.ml.integrity.ModelRefused` (with an alert) when
    its files are not those PassCompass registered."""
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from passcompass_assets.core.ml.integrity import local_copy, verify
    from passcompass_assets.core.ml.tracking import REGISTERED_MODEL, client_for

    found = _version(settings, champion_only=champion_only)
    if found is None:
        return None
    version, promoted = found
    with tempfile.TemporaryDirectory(prefix="pc_model_") as tmp:
        # Checked, then unpickled from the very files checked.
        files = local_copy(settings, REGISTERED_MODEL, str(version.version), Path(tmp))
        verify(settings, str(version.version), files)
        loaded = mlflow.pyfunc.load_model(str(files))
    metrics = client_for(settings).get_run(version.run_id).data.metrics if version.run_id else {}
    reason = version.tags.get("gate.reason", "")
    gate = f"passed: {reason}" if promoted else f"not passed: {reason}" if reason else "not passed"
    # Models from before validation on own students was measured carry no such tag: they claim nothing new.
    validated = version.tags.get("validation.on_own_students", "true") == "true"
    validation = None
    if version.run_id:
        try:  # how it did on students it had not seen, week by week (aggregates only)
            validation = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/validation.json")
        except (MlflowException, OSError):
            validation = None  # a model trained before the document was logged
    info = ModelInfo(
        version=str(version.version),
        promoted=promoted,
        gate=gate,
        metrics=_header_metrics(metrics),
        validated=validated,
        validation=validation if isinstance(validation, dict) else None,
    )
    return LoadedModel(model=loaded.unwrap_python_model().model, info=info, run_id=version.run_id)


def load_champion(settings: Settings) -> LoadedModel | None:
    """The model behind the ``champion`` alias, or None when nothing has been promoted yet."""
    return load_model(settings, champion_only=True)


def model_card(settings: Settings, version: str) -> tuple[str, dict[str, object], str] | None:
    """(version, card, its HTML) of a registered version (``champion``: the champion's); None when there is no
    such version or it was trained before cards were written."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from passcompass_assets.core.ml.tracking import CARD_HTML, CARD_JSON, CHAMPION, REGISTERED_MODEL, client_for

    client = client_for(settings)
    try:
        found = (
            client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
            if version == CHAMPION
            else client.get_model_version(REGISTERED_MODEL, version)
        )
    except MlflowException:
        return None
    if not found.run_id:
        return None
    try:
        card = mlflow.artifacts.load_dict(f"runs:/{found.run_id}/{CARD_JSON}")
        html = mlflow.artifacts.load_text(f"runs:/{found.run_id}/{CARD_HTML}")
    except (MlflowException, OSError):
        return None
    return str(found.version), card, html
