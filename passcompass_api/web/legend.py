"""The pages' legend: what the bands mean, with the thresholds the reports use, what confidence and signals are, and
how to read the trajectory chart (``templates/_legend.html``, on the home, course and student pages).

The thresholds are never written twice: a stored report carries those it was made with (its header), and reports
yet to come use the settings' (``risk_high``, ``risk_medium``), the numbers the report code reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from passcompass_assets.core.reports.store import ReportRecord
from passcompass_assets.core.reports.term import RISING_BY
from passcompass_assets.core.settings import Settings


@dataclass(frozen=True)
class Legend:
    high: float  # a fail probability at or above this is high risk
    medium: float  # at or above this (and below ``high``) is medium
    rising_by: float = RISING_BY  # "risk rising": up by at least this since the report before


def legend(settings: Settings, record: ReportRecord | None = None) -> Legend:
    """The thresholds ``record`` was made with, else those the next reports use."""
    thresholds = record.header.get("risk_thresholds") if record else None
    if isinstance(thresholds, dict):
        return Legend(
            float(thresholds.get("high", settings.risk_high)), float(thresholds.get("medium", settings.risk_medium))
        )
    return Legend(settings.risk_high, settings.risk_medium)
