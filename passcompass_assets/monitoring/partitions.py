"""Evaluation partitions: one per course and period (keyed by core/keys.py's CoursePeriod)."""

import dagster as dg

EVALUATION_PARTITIONS = "evaluations"
evaluation_partitions = dg.DynamicPartitionsDefinition(name=EVALUATION_PARTITIONS)
