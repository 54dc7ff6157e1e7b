"""What the model learns from: the initial UCI data (when available) and every labelled period of the platform."""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.datasets.uci import UciDataUnavailable, initial_training_frame
from passcompass_assets.core.marts import read_table
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.training")


def initial_data_or_empty(settings: Settings) -> tuple[pd.DataFrame, str | None]:
    """The UCI data, or an empty frame and the reason (e.g. no network and PASSCOMPASS_INITIAL_DATA unset)."""
    try:
        return initial_training_frame(settings), None
    except UciDataUnavailable as exc:
        log.warning("initial training data unavailable", extra={"reason": str(exc)})
        return pd.DataFrame(), str(exc)


def platform_training_frame(engine: Engine) -> pd.DataFrame:
    """The dbt ``training_set`` mart: features joined to final grades of every labelled period."""
    try:
        return read_table(engine, "training_set")
    except Exception as exc:  # the mart does not exist before the first dbt build
        log.info("no training_set table yet", extra={"reason": type(exc).__name__})
        return pd.DataFrame()


def combined_training_frame(initial: pd.DataFrame, platform: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in (initial, platform) if not f.empty]
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
