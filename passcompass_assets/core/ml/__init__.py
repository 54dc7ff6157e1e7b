"""The fail-risk model: time-aware stages, candidates compared by cross-validation, a quality gate, MLflow.

Entry points: :func:`training.train_and_gate` (train, evaluate, log, register, promote through the gate) and
:func:`loader.load_model` (the model reports score with). Modules import MLflow only where they need it, so
the cross-validation workers, which import this package, do not pay for it.
"""
