"""The Dagster instance configurations: the root ``dagster.yaml`` (embedded default) and ``deploy/dagster.yaml``
(PostgreSQL) both load, with run monitoring on, a bounded run queue and telemetry off."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from passcompass_assets.core.db.engine import with_driver
from passcompass_assets.core.settings import Settings
from passcompass_assets.instance import EMBEDDED_INSTANCE, REPO_ROOT, prepare_home


def _check(instance: dg.DagsterInstance) -> None:
    assert instance.run_monitoring_enabled
    assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 4
    assert not instance.get_settings("telemetry")["enabled"]


def test_dagster_dev_at_the_root_uses_the_root_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `dagster dev` does at the repository root without DAGSTER_HOME: a temporary home, the root's config."""
    monkeypatch.chdir(REPO_ROOT)
    assert EMBEDDED_INSTANCE.parent == REPO_ROOT
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(REPO_ROOT))) as instance:
        _check(instance)
        assert instance.is_persistent


def test_the_embedded_default_writes_its_instance_under_home(settings: Settings) -> None:
    dagster_home = prepare_home(settings)
    assert dagster_home == settings.dagster_home
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        _check(instance)
        instance.add_dynamic_partitions("uploads", ["u1"])
    if settings.db_url.startswith("sqlite"):
        assert any((dagster_home / "history").glob("*.db")) or any(dagster_home.rglob("*.db"))


@pytest.mark.postgres
def test_postgres_deployments_use_the_deploy_file(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=postgres_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("DAGSTER_PG_URL", with_driver(postgres_url))
    dagster_home = prepare_home(settings)
    assert "postgres_url" in (dagster_home / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        _check(instance)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
