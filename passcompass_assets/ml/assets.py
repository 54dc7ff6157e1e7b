"""Model assets: the initial training data and the fail-risk model, trained and promoted through the gate."""

import dagster as dg
import pandas as pd

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.feedback import TRAIN, latest_grades_seq, record
from passcompass_assets.core.ml.training import train_and_gate
from passcompass_assets.core.ml.training_data import initial_data_or_empty, own_training_rows, training_data
from passcompass_assets.resources import PlatformResource


@dg.asset(
    group_name="ml",
    kinds={"pandas"},
    description="The UCI Student Performance data (courses uci-math, uci-portuguese), from PASSCOMPASS_INITIAL_DATA "
    "or the public archive (SHA-256 verified). Empty, with the reason, where neither is available.",
)
def initial_training_data(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.Output[pd.DataFrame]:
    frame, unavailable = initial_data_or_empty(platform.settings)
    if unavailable:
        context.log.warning(f"initial training data unavailable: {unavailable}")
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "courses": dg.MetadataValue.json(sorted(frame["course_id"].unique().tolist()) if len(frame) else []),
            "unavailable": unavailable or "",
        },
    )


@dg.asset(
    group_name="ml",
    deps=["training_set"],
    kinds={"sklearn", "mlflow"},
    description="Fail-risk model per term stage, from one row per labelled student and report date as known then; "
    "validated on the institution's own students (a period it did not see), logged to MLflow, and promoted to "
    "`champion` only through the quality gate.",
)
def fail_risk_model(
    context: dg.AssetExecutionContext, platform: PlatformResource, initial_training_data: pd.DataFrame
) -> dg.MaterializeResult:
    settings = platform.settings
    through = latest_grades_seq(platform.engine)  # the final grades this training sees
    data = training_data(initial_training_data, own_training_rows(platform.engine))
    if data.frame.empty:
        raise dg.Failure("nothing to train on: no initial data and no labelled period (upload final grades)")
    outcome = train_and_gate(data, settings)
    record(platform.engine, TRAIN, through)
    context.log.info(f"quality gate: {'promoted' if outcome.promoted else 'not promoted'}: {outcome.reason}")
    send_alert(
        settings.alert_webhook_url,
        "quality_gate",
        f"model version {outcome.model_version} {'promoted' if outcome.promoted else 'not promoted'}: {outcome.reason}",
        model_version=outcome.model_version,
        promoted=outcome.promoted,
    )
    return dg.MaterializeResult(
        metadata={
            "promoted": outcome.promoted,
            "reason": outcome.reason,
            "model_version": str(outcome.model_version),
            "champion_version": str(outcome.champion_version),
            "mlflow_run_id": str(outcome.run_id),
            "training_rows": len(data.frame),
            "training_data": data.note,
            "validation": dg.MetadataValue.json(outcome.validation.as_dict() if outcome.validation else {}),
            "model_card": dg.MetadataValue.md(outcome.card_summary),
            "model_card_url": f"/api/v1/models/{outcome.model_version}/card",
            "data_fingerprint": outcome.data_fingerprint,
            "metrics": dg.MetadataValue.json(outcome.jsonable_metrics()),
        }
    )
