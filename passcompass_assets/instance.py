"""The platform's home and its Dagster instance: folders, database schema, ``DAGSTER_HOME/dagster.yaml``.

The embedded default's instance configuration is ``dagster.yaml`` at the repository root (SQLite); deployments
on PostgreSQL use ``deploy/dagster.yaml``. Whichever applies is written into ``DAGSTER_HOME`` (default
``PASSCOMPASS_HOME/dagster``) before any Dagster process starts, so the CLI, ``dagster dev`` and the daemon all
see one instance.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from passcompass_assets.core.db.engine import with_driver
from passcompass_assets.core.db.migrate import ensure_schema
from passcompass_assets.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_INSTANCE = REPO_ROOT / "dagster.yaml"
POSTGRES_INSTANCE = REPO_ROOT / "deploy" / "dagster.yaml"
_GENERATED = "# Written by PassCompass from {source}; edit that file instead.\n"


def instance_config(settings: Settings, dagster_home: Path) -> str:
    """The text of ``dagster.yaml`` for this platform: SQLite under ``dagster_home``, or PostgreSQL."""
    if settings.db_url.startswith("postgresql"):
        return _GENERATED.format(source="deploy/dagster.yaml") + POSTGRES_INSTANCE.read_text(encoding="utf-8")
    config = yaml.safe_load(EMBEDDED_INSTANCE.read_text(encoding="utf-8"))
    config["storage"]["sqlite"]["base_dir"] = str(dagster_home)
    return _GENERATED.format(source="dagster.yaml") + yaml.safe_dump(config, sort_keys=False)


def prepare_home(settings: Settings) -> Path:
    """Create PASSCOMPASS_HOME with its folders, migrate the database (once per process), and point Dagster at
    its instance; returns DAGSTER_HOME."""
    settings.ensure_dirs()
    ensure_schema(settings.db_url)
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home)))
    dagster_home.mkdir(parents=True, exist_ok=True)
    if settings.db_url.startswith("postgresql"):
        os.environ.setdefault("DAGSTER_PG_URL", with_driver(settings.db_url))
    config = instance_config(settings, dagster_home)
    target = dagster_home / "dagster.yaml"
    if not target.exists() or target.read_text(encoding="utf-8") != config:
        target.write_text(config, encoding="utf-8")
    return dagster_home
