"""Monitoring assets: how right the reports were once final grades are in."""

from dataclasses import asdict

import dagster as dg

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.feedback import evaluation_scope, latest_grades_seq, record
from passcompass_assets.core.keys import CoursePeriod
from passcompass_assets.core.periods import find_period
from passcompass_assets.core.reports.outcomes import OutcomePolicy, evaluate_period, store_evaluation
from passcompass_assets.monitoring.partitions import evaluation_partitions
from passcompass_assets.resources import PlatformResource


@dg.asset(
    partitions_def=evaluation_partitions,
    deps=["final_grades", "period_reports"],
    group_name="monitoring",
    kinds={"json", "html"},
    description=(
        "Every report of a course's period scored against its final grades, with lead time, the fairness audit "
        "and the actions staff recorded beside the outcomes (descriptive, not causal)."
    ),
)
def report_evaluation(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
    key = CoursePeriod.parse(context.partition_key)
    settings = platform.settings
    through = latest_grades_seq(platform.engine, key.course_id, key.period_id)  # the grades this evaluation sees
    period = find_period(platform.engine, key.period_id)
    policy = OutcomePolicy(
        withdrawals_count_as_failed=settings.withdrawals_count_as_failed,
        high_risk=settings.risk_high,
        min_group=settings.fairness_min_group,
        abroca_threshold=settings.fairness_abroca,
        recall_gap_threshold=settings.fairness_recall_gap,
    )
    evaluation = evaluate_period(
        platform.engine,
        settings.reports_dir,
        key.course_id,
        key.period_id,
        period.end_date if period else None,
        policy,
    )
    paths = store_evaluation(settings.reports_dir, evaluation)
    record(platform.engine, evaluation_scope(key.course_id, key.period_id), through)
    lead = evaluation.lead_time
    first = evaluation.reports[0] if evaluation.reports else None
    send_alert(
        settings.alert_webhook_url,
        "evaluation",
        f"{key.course_id} ({key.period_id}): {lead.flagged_before_end} of {lead.failed_students} failing "
        f"students were flagged high risk, median {lead.median_weeks_before_end} weeks before the end",
        course_id=key.course_id,
        period_id=key.period_id,
    )
    disparities = evaluation.fairness.disparities if evaluation.fairness else []
    if disparities:
        send_alert(
            settings.alert_webhook_url,
            "fairness",
            f"{key.course_id} ({key.period_id}): the reports served groups unequally by {', '.join(disparities)}",
            course_id=key.course_id,
            period_id=key.period_id,
        )
    helped = evaluation.help
    return dg.MaterializeResult(
        metadata={
            "reports_evaluated": len(evaluation.reports),
            # How staff judged the flags (descriptive; the table per action kind is in the evaluation's files).
            "flagged_with_action": helped.flagged_with_action if helped else None,
            "share_flags_not_useful": helped.flag_feedback.share_not_useful if helped else None,
            "share_flags_incorrect": helped.flag_feedback.share_incorrectly_flagged if helped else None,
            "withdrawals": evaluation.withdrawals,
            "fairness_disparities": dg.MetadataValue.json(disparities),
            "students_with_final_grade": evaluation.students_with_final_grade,
            "failure_rate": evaluation.failure_rate,
            "first_report_recall": first.high_risk_recall if first else None,
            "first_report_roc_auc": first.roc_auc if first else None,
            "share_of_failing_flagged": lead.share_flagged,
            "median_lead_weeks": lead.median_weeks_before_end,
            "per_report": dg.MetadataValue.json([asdict(outcome) for outcome in evaluation.reports]),
            "html": dg.MetadataValue.path(str(paths["html"])),
        }
    )


report_evaluation_job = dg.define_asset_job(
    "report_evaluation_job",
    selection=[report_evaluation],
    partitions_def=evaluation_partitions,
    executor_def=dg.in_process_executor,
    description="Every report of one course period against its final grades (the report_evaluation asset).",
)
