"""Evaluation partitions: one per course and period."""

from dataclasses import dataclass

import dagster as dg

EVALUATION_PARTITIONS = "evaluations"
evaluation_partitions = dg.DynamicPartitionsDefinition(name=EVALUATION_PARTITIONS)
SEPARATOR = "|"


@dataclass(frozen=True)
class CoursePeriod:
    course_id: str
    period_id: str

    @property
    def partition_key(self) -> str:
        return f"{self.course_id}{SEPARATOR}{self.period_id}"

    @classmethod
    def parse(cls, key: str) -> "CoursePeriod":
        course_id, period_id = key.rsplit(SEPARATOR, 1)
        return cls(course_id, period_id)
