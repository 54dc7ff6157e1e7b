"""Did help help? Once final grades are in: the actions staff recorded, beside the outcomes of the students flagged.

Flagged: in the high band of at least one report of the period (the first such report is the student's first
flag). Per action kind: how many flagged students got it, the median days from their first flag to the first
action of that kind (negative: before the flag), and their outcomes (failure rate, mean final grade) beside those
of the flagged students with no action at all. Plus how staff judged the flags: the share of flagged students
marked ``not_useful`` or ``incorrectly_flagged``, and how many of those marked incorrect went on to pass.

Descriptive, never causal: staff choose whom to help, so the groups differ in ways these numbers do not show. A
group under the minimum size (the fairness audit's) shows its size only, never its numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from passcompass_assets.core.actions import FEEDBACK_KINDS, HELP_KINDS, LABELS

NOT_CAUSAL = (
    "Descriptive, not causal: staff choose whom to help, so students who got an action differ from those who did "
    "not in ways these numbers do not show; a difference in outcomes is not the effect of the help."
)
NO_ACTION = "no action"


@dataclass(frozen=True)
class GroupOutcome:
    group: str  # an action kind, or "no action"
    label: str
    students: int
    reported: bool  # False: under the minimum size, size only
    median_days_after_first_flag: float | None = None
    failure_rate: float | None = None
    mean_final_grade: float | None = None


@dataclass(frozen=True)
class FlagFeedback:
    flagged_students: int
    marked_not_useful: int
    marked_incorrectly_flagged: int
    share_not_useful: float | None
    share_incorrectly_flagged: float | None
    # Of the students marked incorrectly flagged, the share who passed (None: under the minimum size, or none).
    incorrectly_flagged_passed: float | None


@dataclass(frozen=True)
class HelpAnalysis:
    note: str
    min_group: int
    flagged_students: int
    flagged_with_action: int
    kinds: list[GroupOutcome]
    without_action: GroupOutcome
    flag_feedback: FlagFeedback
    suppressed: list[str] = field(default_factory=list)  # groups under the minimum size

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _group(name: str, members: pd.DataFrame, min_group: int, days: pd.Series | None = None) -> GroupOutcome:
    label = LABELS.get(name, name)
    if len(members) < min_group:
        return GroupOutcome(name, label, len(members), False)
    grades = members["final_grade"].dropna()
    return GroupOutcome(
        group=name,
        label=label,
        students=len(members),
        reported=True,
        median_days_after_first_flag=round(float(np.median(days)), 1) if days is not None and len(days) else None,
        failure_rate=round(float(members["failed"].mean()), 4),
        mean_final_grade=round(float(grades.mean()), 2) if len(grades) else None,
    )


def did_help_help(judged: pd.DataFrame, actions: pd.DataFrame, min_group: int) -> HelpAnalysis:
    """``judged``: every report's rows of the period with the outcome (user_id, risk_band, report_date, failed,
    final_grade); ``actions``: user_id, kind, recorded_at (never a note)."""
    high = judged.loc[judged["risk_band"] == "high"]
    first_flag = high.groupby("user_id")["report_date"].min()
    outcomes = judged.drop_duplicates("user_id").set_index("user_id")[["failed", "final_grade"]]
    flagged = outcomes.loc[outcomes.index.isin(first_flag.index)].assign(first_flag=first_flag)
    flagged["failed"] = flagged["failed"].astype(bool)
    acts = actions.loc[actions["user_id"].isin(flagged.index)].copy()
    acts["day"] = pd.to_datetime(acts["recorded_at"], utc=True).dt.tz_localize(None).dt.normalize()
    kinds = []
    for kind in (*HELP_KINDS, *FEEDBACK_KINDS):
        firsts = acts.loc[acts["kind"] == kind].groupby("user_id")["day"].min()
        members = flagged.loc[firsts.index]
        days = (firsts - pd.to_datetime(members["first_flag"])).dt.days
        kinds.append(_group(kind, members, min_group, days))
    without = flagged.loc[~flagged.index.isin(acts["user_id"])]
    not_useful = set(acts.loc[acts["kind"] == "not_useful", "user_id"])
    incorrect = set(acts.loc[acts["kind"] == "incorrectly_flagged", "user_id"])
    marked = flagged.loc[flagged.index.isin(incorrect)]
    feedback = FlagFeedback(
        flagged_students=len(flagged),
        marked_not_useful=len(not_useful),
        marked_incorrectly_flagged=len(incorrect),
        share_not_useful=_share(len(not_useful), len(flagged)),
        share_incorrectly_flagged=_share(len(incorrect), len(flagged)),
        incorrectly_flagged_passed=round(float((~marked["failed"]).mean()), 4) if len(marked) >= min_group else None,
    )
    groups = [*kinds, _group(NO_ACTION, without, min_group)]
    return HelpAnalysis(
        note=f"{NOT_CAUSAL} Groups under {min_group} students show their size only.",
        min_group=min_group,
        flagged_students=len(flagged),
        flagged_with_action=int(flagged.index.isin(acts["user_id"]).sum()),
        kinds=kinds,
        without_action=groups[-1],
        flag_feedback=feedback,
        suppressed=[g.group for g in groups if not g.reported and g.students],
    )
