"""MLflow: one run per training, the model registered as ``passcompass-fail-risk``, alias ``champion`` moved
only by a promotion. Only aggregates are logged (metrics, parameters, a data fingerprint), never student rows."""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.models.model import ModelInfo

from passcompass_assets.core.ml.integrity import local_copy, record_digest
from passcompass_assets.core.ml.model import FailRiskModel
from passcompass_assets.core.ml.pyfunc import FailRiskPyfunc, signature
from passcompass_assets.core.settings import Settings

EXPERIMENT = "passcompass"
REGISTERED_MODEL = "passcompass-fail-risk"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"
CARD_JSON, CARD_HTML = "model_card.json", "model_card.html"


def client_for(settings: Settings) -> MlflowClient:
    """Point MLflow (tracking and registry) at the configured store; the default is SQLite under home."""
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def experiment_id(client: MlflowClient, settings: Settings) -> str:
    existing = client.get_experiment_by_name(EXPERIMENT)
    if existing is not None:
        return existing.experiment_id
    if settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        return client.create_experiment(EXPERIMENT)  # a tracking server keeps the artifacts itself
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(EXPERIMENT, artifact_location=settings.mlflow_artifacts_dir.as_uri())


def _metric_key(*parts: str) -> str:
    return ".".join(p.replace("+", "_plus_") for p in parts)


def flat_metrics(metrics: dict[str, dict]) -> dict[str, float]:
    """``{stage: {who: {metric: value}}}`` flattened to MLflow keys, dropping what is not a finite number."""
    flat: dict[str, float] = {}
    for stage, parts in metrics.items():
        for who, values in parts.items():
            if not isinstance(values, dict):
                continue
            for metric, value in values.items():
                if isinstance(value, dict):
                    for inner, number in value.items():
                        flat[_metric_key(stage, who, metric, inner)] = number
                else:
                    flat[_metric_key(stage, who, metric)] = value
    return {k: float(v) for k, v in flat.items() if isinstance(v, int | float | np.floating) and math.isfinite(v)}


def _log_model(model: FailRiskModel) -> ModelInfo:
    return mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=FailRiskPyfunc(model),
        signature=signature(model),
        registered_model_name=REGISTERED_MODEL,
        # Pinned here instead of inferred: inference loads the model in a subprocess (slow).
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
        ],
    )


def log_training(
    settings: Settings,
    *,
    params: dict[str, object],
    metrics: dict[str, dict],
    tags: dict[str, str],
    model: FailRiskModel | None,
    promote: bool,
    documents: dict[str, dict[str, object]] | None = None,
    texts: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """One run: parameters, metrics, tags, JSON ``documents`` (aggregates only: the validation, the model card)
    and (when there is one) the registered model. Returns (run, version)."""
    client = client_for(settings)
    version: str | None = None
    with mlflow.start_run(experiment_id=experiment_id(client, settings)) as run:
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        mlflow.log_metrics(flat_metrics(metrics))
        mlflow.set_tags(tags)
        for name, document in (documents or {}).items():
            mlflow.log_dict(document, name)
        for name, text in (texts or {}).items():
            mlflow.log_text(text, name)
        if model is not None:
            with warnings.catch_warnings():
                # No input example on purpose: it would be student rows.
                warnings.filterwarnings("ignore", message=".*An input example was not provided")
                info = _log_model(model)
            version = str(info.registered_model_version)
            with tempfile.TemporaryDirectory(prefix="pc_model_") as tmp:
                files = local_copy(settings, REGISTERED_MODEL, version, Path(tmp))
                record_digest(settings, version, run.info.run_id, files)
            for key in ("gate.decision", "gate.reason", "data_fingerprint", "validation.on_own_students"):
                if key in tags:
                    client.set_model_version_tag(REGISTERED_MODEL, version, key, tags[key])
            if promote:
                client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, version)
    return run.info.run_id, version
