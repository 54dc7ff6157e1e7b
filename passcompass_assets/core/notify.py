"""Telling a course's instructors that a report is ready: e-mail over SMTP and/or a webhook, per setting.

The message has the report's counts per band, how many students are new to high risk since the report before, and
a link to the course page: never a student's id. Each channel goes out once per report (``report_notifications``):
a retried report run does not tell twice, and a channel that failed is tried again on the next run of it. A failure
never fails the report: it is logged (the channel and the error's kind, never an address) and alerted.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import quote, urlencode

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.db.tables import report_notifications
from passcompass_assets.core.reports.build import BANDS
from passcompass_assets.core.reports.store import ReportRecord
from passcompass_assets.core.reports.term import term_table
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.notify")
EMAIL, WEBHOOK = "email", "webhook"


@dataclass(frozen=True)
class ReportReady:
    """What a notification says: counts and ids only."""

    event: str
    course_id: str
    period_id: str
    report_id: str
    report_date: str
    report_number: int
    students: int
    band_counts: dict[str, int]
    new_high_risk: int
    confidence: str
    link: str

    @property
    def text(self) -> str:
        bands = ", ".join(f"{self.band_counts.get(b, 0)} {b}" for b in BANDS)
        care = " Low confidence: read it with care." if self.confidence == "low" else ""
        return (
            f"PassCompass: report {self.report_number} of {self.course_id} ({self.period_id}) for {self.report_date} "
            f"is ready: {self.students} students, {bands} risk; {self.new_high_risk} new to high risk since the "
            f"report before.{care} {self.link}"
        )

    def payload(self) -> dict[str, object]:
        return {"text": self.text, **asdict(self)}


def course_link(settings: Settings, course_id: str, period_id: str) -> str:
    base = settings.public_url.rstrip("/")
    return f"{base}/courses/{quote(course_id, safe='')}?{urlencode({'period_id': period_id})}"


def report_ready(settings: Settings, engine: Engine, record: ReportRecord) -> ReportReady:
    table = term_table(engine, settings.reports_dir, record.course_id, record.period_id, until=record.report_id)
    return ReportReady(
        event="report_ready",
        course_id=record.course_id,
        period_id=record.period_id,
        report_id=record.report_id,
        report_date=record.report_date.isoformat(),
        report_number=record.report_number,
        students=record.students,
        band_counts={b: int(record.band_counts.get(b, 0)) for b in BANDS},
        new_high_risk=table.new_high,
        confidence=record.confidence,
        link=course_link(settings, record.course_id, record.period_id),
    )


def instructors(settings: Settings, course_id: str) -> list[str]:
    """The addresses told of ``course_id``'s reports: its own and those of every course ("*")."""
    named = [*settings.notify_instructors.get(course_id, []), *settings.notify_instructors.get("*", [])]
    return list(dict.fromkeys(a.strip() for a in named if a.strip()))


def send_email(settings: Settings, recipients: list[str], message: ReportReady) -> None:
    email = EmailMessage()
    email["Subject"] = f"PassCompass: new report for {message.course_id} ({message.report_date})"
    email["From"] = settings.notify_smtp_from
    email["To"] = ", ".join(recipients)
    email.set_content(message.text.removeprefix("PassCompass: ") + "\n")
    host, port = settings.notify_smtp_host or "", settings.notify_smtp_port
    with smtplib.SMTP(host, port, timeout=settings.notify_smtp_timeout_seconds) as smtp:
        smtp.ehlo()
        if settings.notify_smtp_starttls:
            smtp.starttls()
            smtp.ehlo()
        if settings.notify_smtp_username:
            smtp.login(settings.notify_smtp_username, settings.notify_smtp_password or "")
        smtp.send_message(email, to_addrs=recipients)


def send_webhook(settings: Settings, message: ReportReady) -> None:
    response = httpx.post(settings.notify_webhook_url or "", json=message.payload(), timeout=10.0)
    response.raise_for_status()


def _sent(engine: Engine, report_id: str) -> dict[str, tuple[str, int]]:
    c = report_notifications.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.channel, c.status, c.attempts).where(c.report_id == report_id)).all()
    return {row.channel: (row.status, int(row.attempts)) for row in rows}


def _note(engine: Engine, report_id: str, channel: str, status: str, attempts: int, error: str | None) -> None:
    c = report_notifications.c
    values = {"status": status, "attempts": attempts, "at": datetime.now(UTC), "error": error}
    with engine.begin() as conn:
        changed = conn.execute(
            report_notifications.update().where(c.report_id == report_id, c.channel == channel).values(**values)
        ).rowcount
        if not changed:
            conn.execute(report_notifications.insert().values(report_id=report_id, channel=channel, **values))


def _channels(settings: Settings, course_id: str) -> dict[str, Callable[[ReportReady], None]]:
    channels: dict[str, Callable[[ReportReady], None]] = {}
    recipients = instructors(settings, course_id)
    if settings.notify_smtp_host and recipients:
        channels[EMAIL] = lambda message: send_email(settings, recipients, message)
    if settings.notify_webhook_url:
        channels[WEBHOOK] = lambda message: send_webhook(settings, message)
    return channels


def notify_report_ready(settings: Settings, engine: Engine, record: ReportRecord) -> dict[str, str]:
    """Tell the course's instructors that ``record`` is ready, on every configured channel not yet told; per
    channel, "sent", "failed" or "already sent". Never raises: a failure is logged and alerted."""
    outcome: dict[str, str] = {}
    try:
        channels = _channels(settings, record.course_id)
        if not channels:
            return outcome
        before = _sent(engine, record.report_id)
        message = report_ready(settings, engine, record)
    except Exception as exc:  # noqa: BLE001 - a notification must never fail the report
        _failed(settings, record, "all", exc)
        return {"all": "failed"}
    for channel, send in channels.items():
        status, attempts = before.get(channel, ("", 0))
        if status == "sent":
            outcome[channel] = "already sent"
            continue
        try:
            send(message)
        except Exception as exc:  # noqa: BLE001 - SMTP, TLS, HTTP and socket errors alike
            _failed(settings, record, channel, exc)
            _record_quietly(engine, record.report_id, channel, "failed", attempts + 1, type(exc).__name__)
            outcome[channel] = "failed"
            continue
        _record_quietly(engine, record.report_id, channel, "sent", attempts + 1, None)
        log.info("report notification sent", extra={"channel": channel, "report_id": record.report_id})
        outcome[channel] = "sent"
    return outcome


def _record_quietly(
    engine: Engine, report_id: str, channel: str, status: str, attempts: int, error: str | None
) -> None:
    try:
        _note(engine, report_id, channel, status, attempts, error)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not record a notification", extra={"channel": channel, "reason": type(exc).__name__})


def _failed(settings: Settings, record: ReportRecord, channel: str, exc: Exception) -> None:
    # The error's kind only: an SMTP error's text can quote the recipients' addresses.
    reason = type(exc).__name__
    log.warning(
        "report notification failed",
        extra={"channel": channel, "report_id": record.report_id, "course_id": record.course_id, "reason": reason},
    )
    send_alert(
        settings.alert_webhook_url,
        "notification_failed",
        f"{record.course_id} ({record.period_id}): the {channel} notification of report {record.report_number} "
        f"({record.report_date.isoformat()}) failed ({reason}); the report itself is stored",
        course_id=record.course_id,
        period_id=record.period_id,
        report_id=record.report_id,
        channel=channel,
    )
