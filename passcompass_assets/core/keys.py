"""The one way to write and read the key of a course period (``course|period``), of a course period on a day
(``course|period|YYYY-MM-DD``) and of a period on a day (``period|YYYY-MM-DD``): Dagster partitions, work scopes
and the drift pages' file names all use these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

SEPARATOR = "|"


def file_name(key: str) -> str:
    """A key as a file name: letters, digits, '-' and '_' kept, anything else '_'."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in key)


@dataclass(frozen=True)
class CoursePeriod:
    course_id: str
    period_id: str

    @property
    def key(self) -> str:
        return SEPARATOR.join((self.course_id, self.period_id))

    @property
    def prefix(self) -> str:
        """How the keys of its days (:class:`ReportKey`) start."""
        return self.key + SEPARATOR

    @classmethod
    def parse(cls, key: str) -> CoursePeriod:
        course_id, period_id = key.rsplit(SEPARATOR, 1)
        return cls(course_id, period_id)


@dataclass(frozen=True)
class ReportKey:
    """A course period on a day: a report's (or its drift's) unit of work."""

    course_id: str
    period_id: str
    report_date: date

    @property
    def key(self) -> str:
        return SEPARATOR.join((self.course_id, self.period_id, self.report_date.isoformat()))

    @classmethod
    def parse(cls, key: str) -> ReportKey:
        course_id, period_id, day = key.rsplit(SEPARATOR, 2)
        return cls(course_id, period_id, date.fromisoformat(day))


@dataclass(frozen=True)
class ReportDay:
    """A period on a day: the Dagster partition of its reports, made in batches of courses."""

    period_id: str
    report_date: date

    @property
    def key(self) -> str:
        return SEPARATOR.join((self.period_id, self.report_date.isoformat()))

    @classmethod
    def parse(cls, key: str) -> ReportDay:
        period_id, day = key.rsplit(SEPARATOR, 1)
        return cls(period_id, date.fromisoformat(day))
