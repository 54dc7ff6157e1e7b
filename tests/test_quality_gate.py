"""The quality gate and the MLflow registry: promote real signal, refuse no signal in words a person reads,
move the ``champion`` alias only on a promotion."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from passcompass_assets.core.datasets.uci import load_uci_dir
from passcompass_assets.core.db.migrate import upgrade
from passcompass_assets.core.ingest.validation import validate_csv
from passcompass_assets.core.ml.cross_validation import StageEvaluation
from passcompass_assets.core.ml.gate import decide
from passcompass_assets.core.ml.loader import load_champion
from passcompass_assets.core.ml.pyfunc import pyfunc_input
from passcompass_assets.core.ml.stages import INTERIM_2, NO_INTERIM
from passcompass_assets.core.ml.tracking import CHAMPION, EXPERIMENT, REGISTERED_MODEL
from passcompass_assets.core.ml.training import train_and_gate
from passcompass_assets.core.settings import Settings

UCI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"


@pytest.fixture(scope="module")
def uci() -> pd.DataFrame:
    if not (UCI_DIR / "student-mat.csv").exists():
        pytest.skip(f"UCI Student Performance files not found at {UCI_DIR}")
    return load_uci_dir(UCI_DIR)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh PASSCOMPASS_HOME, so MLflow's SQLite store and artifacts start empty; its database migrated, as
    the entry points do (``passcompass db upgrade``, the home's preparation)."""
    monkeypatch.setenv("PASSCOMPASS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings()
    settings.ensure_dirs()
    upgrade(settings.db_url)
    return settings


def client_for(settings: Settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def champion_version(settings: Settings) -> str:
    return str(client_for(settings).get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version)


def second_client_data_set(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    """The client's second data set: synthetic, its FinalGrade (0-100, pass at 50) unrelated to the rest."""
    rng = np.random.default_rng(seed)
    raw = pd.DataFrame(
        {
            "StudentID": [f"S{i:05d}" for i in range(rows)],
            "Gender": rng.choice(["Male", "Female"], rows),
            "AttendanceRate": rng.uniform(50, 100, rows).round(1),
            "StudyHoursPerWeek": rng.uniform(0, 30, rows).round(1),
            "PreviousGrade": rng.uniform(40, 100, rows).round(1),
            "ExtracurricularActivities": rng.integers(0, 4, rows),
            "ParentalSupport": rng.choice(["Low", "Medium", "High"], rows),
            "FinalGrade": rng.normal(62, 15, rows).clip(0, 100).round(1),
            "Online Classes Taken": rng.choice(["True", "False"], rows),
        }
    )
    validated = validate_csv(raw.to_csv(index=False).encode(), course_id="client-b", period_id="2024-fall")
    return validated.frame.assign(grade_max=100.0, pass_mark=50.0)


@pytest.mark.slow
def test_promotes_real_signal_and_refuses_none(uci: pd.DataFrame, settings: Settings) -> None:
    assert load_champion(settings) is None

    first = train_and_gate(uci, settings, n_repeats=1)
    assert first.promoted, first.reason
    assert first.reason.startswith("promoted: beats the naive predictor")
    assert first.model_version == "1" and first.champion_version == "1"
    report = first.as_json()
    assert {"promoted", "reason", "metrics", "model_version"} <= set(report)
    late = report["metrics"]["interim_2"]
    assert late["model"]["roc_auc"] >= late["naive"]["roc_auc"] + 0.05
    champion = load_champion(settings)
    assert champion is not None and champion.version == "1"
    assert champion.score(uci.head(3))["fail_probability"].notna().all()
    served = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}").predict(pyfunc_input(uci.head(3)))
    pd.testing.assert_frame_equal(served, champion.score(uci.head(3)))

    # The same students with their outcomes shuffled: nothing left to learn.
    shuffled = uci.assign(final_grade=np.random.default_rng(1).permutation(uci["final_grade"].to_numpy()))
    second = train_and_gate(shuffled, settings, n_repeats=1)
    assert not second.promoted
    assert second.reason.startswith("not promoted: no predictive signal with no interim grade yet: ROC AUC 0.")
    assert "is no better than chance (0.50)" in second.reason
    assert second.model_version == "2" and second.champion_version == "1"
    assert champion_version(settings) == "1"

    # The client's second data set, synthetic: only start-of-term columns, and no signal in them.
    third = train_and_gate(second_client_data_set(), settings, n_repeats=1)
    assert not third.promoted
    assert third.reason.startswith("not promoted: no predictive signal with no interim grade yet")
    assert "interim_1: no labelled student has this stage's data" in third.reason
    assert champion_version(settings) == "1"

    client = client_for(settings)
    versions = {str(v.version): v for v in client.search_model_versions(f"name='{REGISTERED_MODEL}'")}
    assert set(versions) == {"1", "2", "3"}
    assert versions["1"].tags["gate.decision"] == "promoted"
    assert versions["2"].tags["gate.decision"] == "rejected"
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert sorted(r.data.tags["gate.decision"] for r in runs) == ["promoted", "rejected", "rejected"]
    assert all(len(r.data.tags["data_fingerprint"]) == 64 for r in runs)
    assert "interim_2.model.brier" in runs[-1].data.metrics and "interim_2.naive.brier" in runs[-1].data.metrics


@pytest.mark.slow
def test_a_challenger_must_beat_the_champion(uci: pd.DataFrame, settings: Settings) -> None:
    math = uci[uci["course_id"] == "uci-math"]
    first = train_and_gate(math, settings, n_repeats=1)
    assert first.promoted, first.reason
    # Same data again: the champion is scored on rows it was trained on, which the challenger cannot beat.
    again = train_and_gate(math, settings, n_repeats=1)
    assert not again.promoted
    assert "does not beat the champion: mean Brier" in again.reason
    assert "trained on this same data" in again.reason
    assert again.metrics["interim_2"]["champion"]["brier"] < again.metrics["interim_2"]["model"]["brier"]
    assert champion_version(settings) == "1"
    _assert_no_student_rows(settings, first.run_id)


def _assert_no_student_rows(settings: Settings, run_id: str | None) -> None:
    """Neither the model artifacts nor the run's parameters, tags and metric names hold a student id."""
    artifacts = [p for p in settings.mlflow_artifacts_dir.rglob("*") if p.is_file()]
    assert artifacts
    for path in artifacts:
        assert b"uci-math-0" not in path.read_bytes(), path
    run = client_for(settings).get_run(run_id)
    logged = " ".join([*map(str, run.data.params.values()), *run.data.tags.values(), *run.data.metrics])
    assert "uci-math-0" not in logged


def _evaluation(stage: object, auc: float, brier: float, naive_auc: float, naive_brier: float) -> StageEvaluation:
    return StageEvaluation(
        stage=stage,  # type: ignore[arg-type]
        rows=300,
        failing=80,
        folds=[],
        classifier="logistic",
        regressor="ridge",
        metrics={"roc_auc": auc, "brier": brier},
        naive={"roc_auc": naive_auc, "brier": naive_brier},
        chance_brier=0.19,
    )


def test_gate_reasons_state_the_numbers() -> None:
    good = [_evaluation(NO_INTERIM, 0.75, 0.15, 0.5, 0.19), _evaluation(INTERIM_2, 0.97, 0.05, 0.91, 0.07)]
    assert decide(good).promoted
    assert "there was no champion yet" in decide(good).reason

    champion = {"no_interim": {"brier": 0.14}, "interim_2": {"brier": 0.05}}
    kept = decide(good, champion, "4")
    assert not kept.promoted
    assert "mean Brier 0.1000 vs champion (version 4) 0.0950" in kept.reason
    assert decide(good, {"no_interim": {"brier": 0.16}}, "4").promoted

    small_gain = [_evaluation(INTERIM_2, 0.93, 0.068, 0.91, 0.07)]
    reason = decide(small_gain).reason
    assert "not clearly better than the naive predictor with both interim grades" in reason
    assert "ROC AUC 0.930 vs naive 0.910 (needs 0.955)" in reason
    assert "Brier 0.0680 vs naive 0.0700 (3% lower; needs 5%)" in reason

    # Where the last interim grade alone ranks almost perfectly, +0.05 would be out of reach.
    assert decide([_evaluation(INTERIM_2, 0.985, 0.02, 0.97, 0.03)]).promoted

    chance = decide([_evaluation(NO_INTERIM, 0.51, 0.19, 0.5, 0.19)]).reason
    assert chance == (
        "not promoted: no predictive signal with no interim grade yet: ROC AUC 0.51 is no better than chance (0.50)"
    )
    assert not decide([]).promoted
