"""When reports are due: every ``cadence_weeks`` weeks from a period's start, and once more on its last day.

Cron cannot say "every three weeks from this term's start"; these functions can, and the schedule asks them.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from passcompass_assets.core.periods import Period

# More scheduled dates than any declarable term has (two years every two weeks: 52); a period stored before
# the bounds (one ending 9999-12-31) gets its first ones, never a list of 139,000.
MAX_REPORT_DATES = 200


def report_dates(period: Period) -> list[date]:
    """Scheduled report dates: start + k cadences (k >= 1) within the period, and the period's last day.
    Counted, not stepped: a date past the calendar's last day is never made."""
    step = timedelta(weeks=period.cadence_weeks)
    days = (period.end_date - period.start_date).days
    count = min(max(0, (days - 1) // step.days), MAX_REPORT_DATES)  # start + k * step < end
    return [*(period.start_date + k * step for k in range(1, count + 1)), period.end_date]


def is_report_day(period: Period, day: date) -> bool:
    return day in report_dates(period)


def next_report_date(period: Period, day: date) -> date | None:
    """The first scheduled report date on or after ``day``, or None once the period is over."""
    return next((d for d in report_dates(period) if d >= day), None)


def report_number(period: Period, day: date) -> int:
    """The scheduled report dates up to ``day``: a stored report is numbered by the term's report dates instead
    (core/reports/store.py); this is the number when nothing is stored yet."""
    return max(1, sum(d <= day for d in report_dates(period)))


def week_number(weeks_elapsed: float) -> int:
    """The week of term a day falls in, from the weeks elapsed since the start: the day that closes week N
    (start + 7 N days) is still week N, so the reports of a three-week cadence fall in weeks 3, 6, 9."""
    return max(1, math.ceil(round(weeks_elapsed, 6)))


def week_of_term(period: Period, day: date) -> int:
    return week_number((day - period.start_date).days / 7)
