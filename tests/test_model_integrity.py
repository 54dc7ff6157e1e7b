"""A model is loaded only if its files are those PassCompass registered: tampered files, or a version put in the
registry behind PassCompass's back, are refused before they are unpickled, with an alert; retraining replaces it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from passcompass_assets.core.datasets.uci import load_uci_dir
from passcompass_assets.core.ml.integrity import ModelRefused, recorded_digest
from passcompass_assets.core.ml.loader import load_champion
from passcompass_assets.core.ml.pyfunc import FailRiskPyfunc
from passcompass_assets.core.ml.tracking import CHAMPION, REGISTERED_MODEL, client_for
from passcompass_assets.core.ml.training import train_and_gate
from passcompass_assets.core.settings import Settings


def _files_of(client: MlflowClient, version: str) -> Path:
    return Path(unquote(urlparse(client.get_model_version_download_uri(REGISTERED_MODEL, version)).path))


@pytest.mark.slow
def test_tampered_or_foreign_models_are_refused(
    uci_dir: Path, settings: Settings, webhook: tuple[tuple[str, int], list[dict]]
) -> None:
    (host, port), alerts = webhook
    settings = settings.model_copy(update={"alert_webhook_url": f"http://{host}:{port}/hook"})
    math = load_uci_dir(uci_dir).query("course_id == 'uci-math'")
    first = train_and_gate(math, settings, n_repeats=1)
    assert first.promoted and first.model_version == "1"
    assert len(recorded_digest(settings, "1") or "") == 64
    assert load_champion(settings) is not None and not alerts

    # One byte appended to the pickled model in the registry's store.
    pickle = next(p for p in _files_of(client_for(settings), "1").rglob("*.pkl"))
    pickle.write_bytes(pickle.read_bytes() + b"\0")
    with pytest.raises(ModelRefused, match="version 1 refused: its files differ from those PassCompass registered"):
        load_champion(settings)
    assert [a["event"] for a in alerts] == ["model_refused"] and alerts[0]["model_version"] == "1"

    # Retraining reads the champion as unusable and promotes a challenger, which loads.
    second = train_and_gate(math, settings, n_repeats=1)
    assert second.promoted, second.reason
    champion = load_champion(settings)
    assert champion is not None and champion.version == second.model_version
    assert champion.score(math.head(3))["fail_probability"].notna().all()

    # A version registered straight in MLflow, and the alias moved to it: PassCompass never recorded it.
    client = client_for(settings)
    with mlflow.start_run():
        foreign = mlflow.pyfunc.log_model(
            name="model", python_model=FailRiskPyfunc(champion.model), registered_model_name=REGISTERED_MODEL
        )
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, str(foreign.registered_model_version))
    with pytest.raises(ModelRefused, match="PassCompass never registered it"):
        load_champion(settings)
    assert alerts[-1]["model_version"] == str(foreign.registered_model_version)
