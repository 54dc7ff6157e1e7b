"""When reports are due: every ``cadence_weeks`` weeks from a period's start, and once more on its last day.

Cron cannot say "every three weeks from this term's start"; these functions can, and the schedule asks them.
"""

from __future__ import annotations

from datetime import date, timedelta

from passcompass_assets.core.periods import Period


def report_dates(period: Period) -> list[date]:
    """Scheduled report dates: start + k cadences (k >= 1) within the period, and the period's last day."""
    step = timedelta(weeks=period.cadence_weeks)
    dates = []
    day = period.start_date + step
    while day < period.end_date:
        dates.append(day)
        day += step
    dates.append(period.end_date)
    return dates


def is_report_day(period: Period, day: date) -> bool:
    return day in report_dates(period)


def next_report_date(period: Period, day: date) -> date | None:
    """The first scheduled report date on or after ``day``, or None once the period is over."""
    return next((d for d in report_dates(period) if d >= day), None)


def report_number(period: Period, day: date) -> int:
    """1 for the first scheduled report; an on-demand report counts with the scheduled ones before it."""
    return max(1, sum(d <= day for d in report_dates(period)))


def week_of_term(period: Period, day: date) -> int:
    return max(1, (day - period.start_date).days // 7 + 1)
