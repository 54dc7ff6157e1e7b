"""Report partitions: one per course, period and report date."""

from dataclasses import dataclass
from datetime import date

import dagster as dg

REPORT_PARTITIONS = "reports"
report_partitions = dg.DynamicPartitionsDefinition(name=REPORT_PARTITIONS)
SEPARATOR = "|"


@dataclass(frozen=True)
class ReportKey:
    course_id: str
    period_id: str
    report_date: date

    @property
    def partition_key(self) -> str:
        return SEPARATOR.join((self.course_id, self.period_id, self.report_date.isoformat()))

    @classmethod
    def parse(cls, key: str) -> "ReportKey":
        course_id, period_id, day = key.rsplit(SEPARATOR, 2)
        return cls(course_id, period_id, date.fromisoformat(day))
