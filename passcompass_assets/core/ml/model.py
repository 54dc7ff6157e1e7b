"""The fitted fail-risk model: one classifier and one grade regressor per stage, scoring each row at the
latest stage its data supports."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import ThreadpoolController

from passcompass_assets.core.ml.explain import Typical, assess, top_factors
from passcompass_assets.core.ml.features import SCALE_COLUMNS, TERM_WEEK, model_frame
from passcompass_assets.core.ml.stages import STAGE_BY_NAME, STAGES, latest_stage

OUTPUT_COLUMNS = (
    "user_id",
    "course_id",
    "period_id",
    "fail_probability",
    "predicted_final_grade",
    "top_factors",
    "signals_available",
    "stage",
)
BLOCK_ROWS = 100_000  # rows scored at a time: bounds the memory of the encoded inputs and their effects


@cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()  # finding the native thread pools takes milliseconds: once per process


@contextmanager
def _quiet() -> Iterator[None]:
    """One thread (on blocks this small OpenMP start-up costs more than it saves), and no warning for
    categories unseen in training: they are meant to count as "none of the known ones"."""
    with _threadpools().limit(limits=1), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        yield


@dataclass
class StageModel:
    stage: str
    columns: list[str]  # catalog features used, fixed at fit time
    classifier_name: str
    regressor_name: str
    classifier: BaseEstimator
    regressor: BaseEstimator  # final grade as a share of the scale
    typical: Typical  # per input: the value a typical training student has
    # The typical training student at each week of term (rows of training at that point of their term): a
    # student at week 3 is compared with students at week 3, not with the end of term.
    typical_by_week: dict[int, Typical] = field(default_factory=dict)

    def fail_probability(self, inputs: pd.DataFrame) -> np.ndarray:
        with _quiet():
            return self.classifier.predict_proba(inputs)[:, 1]

    def reference(self, inputs: pd.DataFrame) -> Typical:
        """The typical student to compare ``inputs`` with: at their week of term when the model knows it."""
        by_week = getattr(self, "typical_by_week", {})  # models trained before it was kept have none
        if not by_week or TERM_WEEK not in inputs.columns or inputs[TERM_WEEK].isna().all():
            return self.typical
        week = float(inputs[TERM_WEEK].median())
        return by_week[min(by_week, key=lambda known: abs(known - week))]

    def assess(self, inputs: pd.DataFrame, *, explain: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Fail probability per row and, with ``explain``, its top factors in plain words."""
        typical = self.reference(inputs) if explain else self.typical
        with _quiet():
            probability, effects = assess(self.classifier, inputs, typical, explain=explain)
        return probability, None if effects is None else top_factors(effects, inputs, typical)

    def grade_share(self, inputs: pd.DataFrame) -> np.ndarray:
        with _quiet():
            return np.clip(self.regressor.predict(inputs), 0.0, 1.0)


@dataclass
class FailRiskModel:
    stages: dict[str, StageModel]  # by stage name; earliest first
    data_fingerprint: str
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in STAGES if stage.name in self.stages]

    def stage_for(self, stage: str) -> StageModel | None:
        """The model's pipeline for ``stage``, or for the latest earlier stage it has."""
        known = [name for name in self.stage_names if STAGES.index(STAGE_BY_NAME[name]) <= _position(stage)]
        return self.stages[known[-1]] if known else None

    def fail_probability_at(self, frame: pd.DataFrame, stage: str) -> np.ndarray | None:
        """Every row scored at ``stage`` (used to re-score a champion on a challenger's folds)."""
        model = self.stage_for(stage)
        return None if model is None else model.fail_probability(model_frame(frame, model.columns))

    def predict(self, frame: pd.DataFrame, *, explain: bool = True) -> pd.DataFrame:
        """Per student: fail probability, predicted final grade on the course's scale, top factors, stage."""
        missing = [c for c in ("user_id", "course_id", *SCALE_COLUMNS) if c not in frame.columns]
        if missing:
            raise ValueError(f"cannot score: the frame lacks {', '.join(missing)}")
        frame = frame.reset_index(drop=True)
        out = pd.DataFrame(
            {
                "user_id": frame["user_id"].astype("string"),
                "course_id": frame["course_id"].astype("string"),
                "period_id": frame["period_id"].astype("string") if "period_id" in frame else pd.NA,
                "fail_probability": np.nan,
                "predicted_final_grade": np.nan,
                "top_factors": "",
                "signals_available": "not enough data for a prediction",
                "stage": pd.NA,
            }
        )
        if not self.stages or frame.empty:
            return out[list(OUTPUT_COLUMNS)]
        stage_of_row = latest_stage(frame, self.stage_names)
        for name, rows in stage_of_row.groupby(stage_of_row).groups.items():
            for start in range(0, len(rows), BLOCK_ROWS):
                self._score_block(frame, out, rows[start : start + BLOCK_ROWS], self.stages[name], explain)
        return out[list(OUTPUT_COLUMNS)]

    @staticmethod
    def _score_block(frame: pd.DataFrame, out: pd.DataFrame, rows: pd.Index, model: StageModel, explain: bool) -> None:
        inputs = model_frame(frame.loc[rows], model.columns)
        probability, factors = model.assess(inputs, explain=explain)
        out.loc[rows, "fail_probability"] = probability
        grade_max = frame.loc[rows, "grade_max"].astype(float).to_numpy()
        out.loc[rows, "predicted_final_grade"] = model.grade_share(inputs) * grade_max
        out.loc[rows, "signals_available"] = STAGE_BY_NAME[model.stage].signals
        out.loc[rows, "stage"] = model.stage
        if factors is not None:
            out.loc[rows, "top_factors"] = factors


def _position(stage: str) -> int:
    return STAGES.index(STAGE_BY_NAME[stage])
