"""A model card for every model version, from what training and validation measured (Mitchell et al., 2019).

What it is for and not for, what it learnt from, which inputs it uses and which it may not, how it did overall,
per stage and per week of term on the institution's own students, how well its probabilities are calibrated, and
the disaggregated analysis by every audit column. Logged with the model in MLflow (JSON and HTML), served at
``GET /api/v1/models/{version}/card``, linked from every report.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.ml.fairness import FairnessAudit, audit, with_students
from passcompass_assets.core.ml.fitting import FittedStages
from passcompass_assets.core.ml.own_students import Validation
from passcompass_assets.core.ml.training_data import TrainingData

INTENDED_USE = (
    "Early warning for instructors and tutors: which students of a course are likely not to pass it, every few "
    "weeks of the term, so that help can be offered in time. A probability and a band to start a conversation "
    "from, with the signals it had and the factors behind it."
)
OUT_OF_SCOPE = [
    "decisions about a student without a person looking at them (admission, grading, sanctions, funding)",
    "ranking or comparing instructors, courses or institutions",
    "students of another institution or another kind of course than those it learnt from, unless validated there",
    "explaining why a student fails: factors describe the model's reasons, not causes",
]


def reliability(judged: pd.DataFrame, bins: int = 10) -> list[dict[str, float | int]]:
    """Per probability bin: the mean predicted probability, the observed fail rate, and the rows in it."""
    if judged.empty:
        return []
    probability = judged["probability"].to_numpy(dtype=float)
    fail = judged["fail"].to_numpy(dtype=int)
    edges = np.minimum((probability * bins).astype(int), bins - 1)
    return [
        {
            "bin": b,
            "predicted": round(float(probability[edges == b].mean()), 4),
            "observed": round(float(fail[edges == b].mean()), 4),
            "rows": int((edges == b).sum()),
        }
        for b in range(bins)
        if (edges == b).any()
    ]


def validation_fairness(validation: Validation, *, high_risk: float, min_group: int) -> FairnessAudit | None:
    """The disaggregated analysis on the students the model was judged on."""
    attributes = [c.name for c in load_catalog().audit if c.name in validation.inputs.columns]
    if validation.rows.empty or not attributes:
        return None
    frame = with_students(validation.rows).dropna(subset=["probability"])
    inputs = validation.inputs.reset_index(drop=True).loc[frame.index]
    for attribute in attributes:
        frame[attribute] = inputs[attribute].to_numpy()
    return audit(frame, attributes, high_risk=high_risk, min_group=min_group)


def build_card(
    data: TrainingData,
    fitted: FittedStages,
    validation: Validation,
    fairness: FairnessAudit | None,
    *,
    promoted: bool,
    reason: str,
) -> dict[str, object]:
    catalog = load_catalog()
    used = sorted({c for stage in (fitted.model.stages.values() if fitted.model else []) for c in stage.columns})
    periods = sorted(str(p) for p in fitted.rows["period_id"].unique()) if not fitted.rows.empty else []
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "intended_use": INTENDED_USE,
        "out_of_scope": OUT_OF_SCOPE,
        "training_data": {
            "summary": data.note,
            "rows": len(fitted.rows),
            "periods": periods,
            "uci_prior_rows": data.prior_rows,
            "rows_are": "one per labelled student and report date of their period, as known on that date",
        },
        "inputs": {
            "used": used,
            "excluded_audit": [c.name for c in catalog.audit],
            "excluded_ignored": [c.name for c in catalog.columns if c.role == "feature" and c.use == "ignore"],
            "per_stage": {name: stage.columns for name, stage in (fitted.model.stages if fitted.model else {}).items()},
        },
        "cross_validation": {
            ev.stage.name: {
                "rows": ev.rows,
                "failing": ev.failing,
                "classifier": ev.classifier,
                "model": ev.metrics,
                "naive": ev.naive,
            }  # fmt: skip
            for ev in fitted.evaluations
        },
        "validation": validation.as_dict(),
        "calibration": reliability(validation.rows.dropna(subset=["probability"])) if not validation.rows.empty else [],
        "fairness": asdict(fairness) if fairness else None,
        "quality_gate": {"promoted": promoted, "reason": reason},
    }


_templates = Environment(
    loader=PackageLoader("passcompass_assets.core.ml", "templates"), autoescape=select_autoescape()
)


def render_card(card: dict[str, object], version: str | None = None) -> str:
    return _templates.get_template("model_card.html").render(card=card, version=version)


def card_summary(validation: Validation, fairness: FairnessAudit | None) -> str:
    """A short summary for the Dagster UI's asset metadata (Markdown)."""
    lines = [f"**Validation**: {validation.note}"]
    if (overall := validation.overall) is not None:
        lines.append(f"ROC AUC {overall.auc} {overall.auc_interval}, Brier {overall.brier}, ECE {overall.ece}")
    if fairness is not None:
        flagged = fairness.disparities
        lines.append(f"**Fairness**: disparities by {', '.join(flagged)}" if flagged else "**Fairness**: none flagged")
    return "\n\n".join(lines)
