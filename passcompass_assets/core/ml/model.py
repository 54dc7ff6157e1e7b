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

from passcompass_assets.core.ml.explain import Typical, Wording, assess, top_factors
from passcompass_assets.core.ml.features import COURSE, SCALE_COLUMNS, model_frame
from passcompass_assets.core.ml.stages import STAGE_BY_NAME, STAGES, latest_stage
from passcompass_assets.core.ml.wording import Choice, word_factors
from passcompass_assets.core.records import TERM_WEEK

OUTPUT_COLUMNS = (
    "user_id",
    "course_id",
    "period_id",
    "fail_probability",
    "predicted_final_grade",
    "top_factors",
    "background_factors",
    "factors",
    "data_gaps",
    "signals_available",
    "stage",
)
NOT_ENOUGH_DATA = "not enough data for a prediction"
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
    # The classifier fitted around each report week (core/ml/fitting.py); rows between weeks take the nearest.
    classifiers_by_week: dict[int, BaseEstimator] = field(default_factory=dict)
    wording: Wording = field(default_factory=Wording)  # which inputs are named together, and their directions

    def _week(self, inputs: pd.DataFrame, known: dict[int, object]) -> int | None:
        if not known or TERM_WEEK not in inputs.columns or inputs[TERM_WEEK].isna().all():
            return None
        week = float(inputs[TERM_WEEK].median())
        return min(known, key=lambda candidate: abs(candidate - week))

    def classifier_for(self, inputs: pd.DataFrame) -> BaseEstimator:
        """The classifier of the rows' week of term (a block of rows is one report: one week)."""
        by_week = getattr(self, "classifiers_by_week", {})  # models trained before it was kept have none
        week = self._week(inputs, by_week)
        return self.classifier if week is None else by_week[week]

    def fail_probability(self, inputs: pd.DataFrame) -> np.ndarray:
        with _quiet():
            return self.classifier_for(inputs).predict_proba(inputs)[:, 1]

    def reference(self, inputs: pd.DataFrame) -> Typical:
        """The typical student to compare ``inputs`` with: at their week of term when the model knows it."""
        by_week = getattr(self, "typical_by_week", {})  # models trained before it was kept have none
        week = self._week(inputs, by_week)
        return self.typical if week is None else by_week[week]

    def assess(self, inputs: pd.DataFrame, *, explain: bool) -> tuple[np.ndarray, Choice | None]:
        """Fail probability per row and, with ``explain``, the factors picked as its reasons and background."""
        typical = self.reference(inputs) if explain else self.typical
        with _quiet():
            probability, effects = assess(self.classifier_for(inputs), inputs, typical, explain=explain)
        if effects is None:
            return probability, None
        wording = getattr(self, "wording", Wording())  # models trained before it was kept name inputs alone
        return probability, top_factors(effects, inputs, typical, wording=wording)

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
                "background_factors": "",
                "factors": "[]",
                "data_gaps": "",
                "signals_available": NOT_ENOUGH_DATA,
                "stage": pd.NA,
            }
        )
        if not self.stages or frame.empty:
            return out[list(OUTPUT_COLUMNS)]
        # A student of whom nothing the model uses is known gets no number: "not enough data", never a guess.
        stage_of_row = latest_stage(frame, self.stage_names).where(self._anything_known(frame))
        # A block is one stage at one week of term: each week has its own classifier and typical student.
        week = frame[TERM_WEEK].astype(float).round() if TERM_WEEK in frame.columns else pd.Series(0.0, frame.index)
        blocks = pd.DataFrame({"stage": stage_of_row, "week": week.fillna(-1.0)}).dropna(subset=["stage"])
        for (name, _), rows in blocks.groupby(["stage", "week"]).groups.items():
            for start in range(0, len(rows), BLOCK_ROWS):
                self._score_block(frame, out, rows[start : start + BLOCK_ROWS], self.stages[str(name)], explain)
        return out[list(OUTPUT_COLUMNS)]

    def _anything_known(self, frame: pd.DataFrame) -> pd.Series:
        """Per row: some input of the model about the student is known (the term position and course aside)."""
        used = sorted({c for s in self.stages.values() for c in s.columns} - {TERM_WEEK, COURSE})
        present = [c for c in used if c in frame.columns]
        if not present:
            return pd.Series(False, index=frame.index)
        return frame[present].notna().any(axis=1)

    @staticmethod
    def _score_block(frame: pd.DataFrame, out: pd.DataFrame, rows: pd.Index, model: StageModel, explain: bool) -> None:
        inputs = model_frame(frame.loc[rows], model.columns)
        probability, choice = model.assess(inputs, explain=explain)
        out.loc[rows, "fail_probability"] = probability
        grade_max = frame.loc[rows, "grade_max"].astype(float).to_numpy()
        out.loc[rows, "predicted_final_grade"] = model.grade_share(inputs) * grade_max
        out.loc[rows, "signals_available"] = STAGE_BY_NAME[model.stage].signals
        out.loc[rows, "stage"] = model.stage
        if choice is not None:
            # Said with the course at the same week: the course's rows at the block's week, as uploaded.
            raw = frame.loc[rows]
            if COURSE in frame.columns and TERM_WEEK in frame.columns:
                same = frame[COURSE].isin(raw[COURSE].unique()) & frame[TERM_WEEK].isin(raw[TERM_WEEK].unique())
                raw = frame.loc[same]
            wording = getattr(model, "wording", Wording())
            worded = word_factors(choice, frame.loc[rows], wording.directions, model.columns, context=raw)
            out.loc[rows, "top_factors"], out.loc[rows, "background_factors"] = worded.reasons, worded.background
            out.loc[rows, "factors"], out.loc[rows, "data_gaps"] = worded.factors, worded.gaps


def _position(stage: str) -> int:
    return STAGES.index(STAGE_BY_NAME[stage])
