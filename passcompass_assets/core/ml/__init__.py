"""The fail-risk model: time-aware stages, candidates compared by cross-validation, a quality gate, MLflow.

Entry points: :func:`train_and_gate` (train, evaluate, log, register, promote through the gate),
:func:`load_champion` and :func:`score` (per-student predictions). They are imported lazily, so that the
cross-validation workers, which import this package, do not pay for importing MLflow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from passcompass_assets.core.ml.tracking import Champion, load_champion
    from passcompass_assets.core.ml.training import TrainingOutcome, score, train_and_gate

_EXPORTS = {
    "Champion": "tracking",
    "load_champion": "tracking",
    "TrainingOutcome": "training",
    "score": "training",
    "train_and_gate": "training",
}
__all__ = ["Champion", "TrainingOutcome", "load_champion", "score", "train_and_gate"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
