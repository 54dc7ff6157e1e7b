"""ML domain: training data and the fail-risk model, and the job that retrains it."""

import dagster as dg

from passcompass_assets.ml.assets import fail_risk_model, initial_training_data

# Rebuild every dbt model (the training set and what its tests refer to), then train a challenger.
train_model_job = dg.define_asset_job(
    "train_model",
    selection=(
        dg.AssetSelection.assets(fail_risk_model, initial_training_data).upstream()
        | dg.AssetSelection.groups("features")
    )
    - dg.AssetSelection.groups("ingestion"),
    executor_def=dg.in_process_executor,
    description="dbt features and training set, then a challenger model through the quality gate.",
)

__all__ = ["fail_risk_model", "initial_training_data", "train_model_job"]
