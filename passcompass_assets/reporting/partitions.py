"""Report partitions: one per period and report day (keyed by core/keys.py's ReportDay); the day's courses are
made inside it, in batches, each course's outcome an observation of the partition."""

import dagster as dg

REPORT_DAYS = "report_days"
report_days = dg.DynamicPartitionsDefinition(name=REPORT_DAYS)
