"""Report partitions: one per course, period and report date (keyed by core/keys.py's ReportKey)."""

import dagster as dg

REPORT_PARTITIONS = "reports"
report_partitions = dg.DynamicPartitionsDefinition(name=REPORT_PARTITIONS)
