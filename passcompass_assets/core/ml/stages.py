"""Stages of a term: which interim grades are known, and so which fitted pipeline a row is scored with."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Stage:
    name: str
    catalog_stage: str  # the feature catalog's ``known_from`` stage whose features it may use
    requires: str | None  # the grade column a row must carry to be scored at this stage
    signals: str  # plain words for reports: which signals the prediction had

    @property
    def last_interim(self) -> str | None:
        return self.requires


NO_INTERIM = Stage("no_interim", "start", None, "no interim grade yet")
INTERIM_1 = Stage("interim_1", "interim_1", "interim_grade_1", "first interim grade")
INTERIM_2 = Stage("interim_2", "interim_2", "interim_grade_2", "both interim grades")
STAGES = (NO_INTERIM, INTERIM_1, INTERIM_2)  # earliest first
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}


def rows_supporting(frame: pd.DataFrame, stage: Stage) -> pd.Series:
    """Rows whose data is enough for ``stage`` (the stage's interim grade is present)."""
    if stage.requires is None:
        return pd.Series(True, index=frame.index)
    if stage.requires not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[stage.requires].notna()


def latest_stage(frame: pd.DataFrame, available: list[str]) -> pd.Series:
    """Per row, the latest of the ``available`` stages its data supports; missing where none is."""
    chosen = pd.Series(None, index=frame.index, dtype=object)
    for stage in STAGES:
        if stage.name in available:
            chosen = chosen.mask(rows_supporting(frame, stage), stage.name)
    return chosen
