"""Telling instructors that a report is ready, on SQLite and PostgreSQL: e-mail to a local SMTP server and a JSON
POST to a local webhook, both started by the test; once per report and channel; a failed channel (a closed port, a
server without STARTTLS) logged and alerted while the report made through the Dagster asset is stored anyway."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes
from email.message import Message

import dagster as dg
import pandas as pd
import pytest
from conftest import DataDrivenModel, make_report_batch
from sqlalchemy.engine import Engine

from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.notify import notify_report_ready
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.store import get_report, list_reports, store_report
from passcompass_assets.core.settings import Settings
from passcompass_assets.resources import ModelResource

COURSE, PERIOD = "math", "2026-now"
ADDRESSES = {"math": ["ada@uni.example", "alan@uni.example"], "*": ["dean@uni.example"]}


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Mail] = field(default_factory=list)


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to receive a message: EHLO, MAIL, RCPT, DATA, QUIT; no STARTTLS offered."""

    server: socketserver.ThreadingTCPServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        sink: SmtpServer = self.server.sink  # type: ignore[attr-defined]
        sender, recipients = "", []
        self.reply("220 localhost test SMTP")
        while line := self.rfile.readline():
            verb = line.decode().strip()
            upper = verb.upper()
            if upper.startswith(("EHLO", "HELO")):
                self.reply("250-localhost")
                self.reply("250 8BITMIME")
            elif upper.startswith("MAIL FROM:"):
                sender = verb[10:].strip().strip("<>").split(">")[0]
                self.reply("250 OK")
            elif upper.startswith("RCPT TO:"):
                recipients.append(verb[8:].strip().strip("<>"))
                self.reply("250 OK")
            elif upper == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                sink.received.append(Mail(sender, recipients, message_from_bytes(body)))
                sender, recipients = "", []
                self.reply("250 OK queued")
            elif upper == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    sink = SmtpServer(*server.server_address[:2])  # type: ignore[misc]
    server.sink = sink  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log record in full: its message, arguments and extra fields."""
    return " ".join(str(record.__dict__) for record in caplog.records)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stored_report(engine: Engine, settings: Settings, period: Period, on: date, probabilities: list[float]) -> str:
    ids = [f"stu-{i:03d}" for i in range(len(probabilities))]
    scored = pd.DataFrame(
        {
            "user_id": ids,
            "fail_probability": probabilities,
            "predicted_final_grade": [20 * (1 - p) for p in probabilities],
            "top_factors": "absences high",
            "signals_available": "first interim grade",
        }
    )
    report = build_report(
        scored,
        course_id=COURSE,
        period=period,
        as_of=on,
        model=ModelInfo(version="1", promoted=True, gate="passed"),
        risk_high=0.5,
        risk_medium=0.25,
    )
    return store_report(engine, settings.reports_dir, report)


def term(engine: Engine) -> Period:
    today = date.today()
    period = Period(PERIOD, today - timedelta(weeks=7), today + timedelta(weeks=6), 3)
    upsert_period(engine, period)
    return period


def test_instructors_are_told_once_by_email_and_webhook(settings, engine, smtp, webhook, caplog):
    (host, port), posted = webhook
    told = settings.model_copy(
        update={
            "notify_smtp_host": smtp.host,
            "notify_smtp_port": smtp.port,
            "notify_smtp_from": "passcompass@uni.example",
            "notify_instructors": ADDRESSES,
            "notify_webhook_url": f"http://{host}:{port}/notify",
            "public_url": "https://passcompass.uni.example/",
        }
    )
    period = term(engine)
    stored_report(engine, settings, period, period.start_date + timedelta(weeks=3), [0.9, 0.3, 0.3, 0.1])
    # Now stu-001 and stu-002 are new to high risk; stu-000 stays high; stu-004 joins at low risk.
    second = stored_report(engine, settings, period, period.start_date + timedelta(weeks=6), [0.9, 0.7, 0.6, 0.1, 0.2])
    record = get_report(engine, second)
    assert record is not None
    caplog.set_level(logging.DEBUG)

    assert notify_report_ready(told, engine, record) == {"email": "sent", "webhook": "sent"}
    (mail,) = smtp.received
    assert mail.sender == "passcompass@uni.example"
    assert mail.recipients == ["ada@uni.example", "alan@uni.example", "dean@uni.example"]
    assert mail.message["Subject"] == f"PassCompass: new report for math ({record.report_date.isoformat()})"
    body = mail.message.get_payload(decode=True).decode()
    assert "5 students, 3 high, 0 medium, 2 low risk; 2 new to high risk since the report before" in body
    link = f"https://passcompass.uni.example/courses/math?period_id={PERIOD}"
    assert link in body
    (payload,) = posted
    assert payload["event"] == "report_ready" and payload["new_high_risk"] == 2 and payload["link"] == link
    assert payload["band_counts"] == {"high": 3, "medium": 0, "low": 2} and payload["report_number"] == 2
    assert payload["text"].startswith("PassCompass: report 2 of math")
    assert "stu-0" not in body and "stu-0" not in json.dumps(payload)  # counts, never a student
    assert "@uni.example" not in logged(caplog)  # no address in any log line

    assert notify_report_ready(told, engine, record) == {"email": "already sent", "webhook": "already sent"}
    assert len(smtp.received) == 1 and len(posted) == 1

    # The first report of a term: everyone at high risk is new.
    first = list_reports(engine, COURSE, PERIOD)[-1]
    assert notify_report_ready(told, engine, first) == {"email": "sent", "webhook": "sent"}
    assert posted[-1]["new_high_risk"] == 1 and "1 new to high risk" in smtp.received[-1].message.get_payload()

    # Nothing configured: nobody told, nothing recorded.
    assert notify_report_ready(settings, engine, record) == {}
    # A course without addresses gets the webhook only ("*" covers every course, so take it away here).
    only_math = told.model_copy(update={"notify_instructors": {"physics": ["p@uni.example"]}})
    third = get_report(engine, stored_report(engine, settings, period, date.today(), [0.8]))
    assert third is not None and notify_report_ready(only_math, engine, third) == {"webhook": "sent"}


def test_a_channel_that_fails_is_alerted_and_tried_again(settings, engine, smtp, webhook, caplog):
    (host, port), posted = webhook
    period = term(engine)
    record = get_report(engine, stored_report(engine, settings, period, date.today(), [0.9, 0.1]))
    assert record is not None
    starttls = settings.model_copy(
        update={
            "notify_smtp_host": smtp.host,
            "notify_smtp_port": smtp.port,
            "notify_smtp_starttls": True,  # the test server offers none: refused before anything is sent
            "notify_instructors": ADDRESSES,
            "alert_webhook_url": f"http://{host}:{port}/alerts",
        }
    )
    caplog.set_level(logging.DEBUG)
    assert notify_report_ready(starttls, engine, record) == {"email": "failed"}
    assert smtp.received == []
    (alert,) = posted
    assert alert["event"] == "notification_failed" and alert["channel"] == "email"
    assert "SMTPNotSupportedError" in alert["text"] and "uni.example" not in json.dumps(alert)
    assert "@uni.example" not in logged(caplog) and "notification failed" in logged(caplog)
    # Fixed: the next run of the same report sends it.
    plain = starttls.model_copy(update={"notify_smtp_starttls": False})
    assert notify_report_ready(plain, engine, record) == {"email": "sent"}
    assert len(smtp.received) == 1


class FixedModel(ModelResource):
    def load(self) -> DataDrivenModel:  # type: ignore[override]
        return DataDrivenModel()


def test_the_report_asset_notifies_and_a_failure_never_fails_it(
    settings, engine, store: LandingStore, webhook, monkeypatch, caplog
):
    (host, port), posted = webhook
    monkeypatch.setenv("PASSCOMPASS_NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PASSCOMPASS_NOTIFY_SMTP_PORT", str(closed_port()))  # nobody listens: connection refused
    monkeypatch.setenv("PASSCOMPASS_NOTIFY_INSTRUCTORS", json.dumps(ADDRESSES))
    monkeypatch.setenv("PASSCOMPASS_NOTIFY_WEBHOOK_URL", f"http://{host}:{port}/notify")
    monkeypatch.setenv("PASSCOMPASS_ALERT_WEBHOOK_URL", f"http://{host}:{port}/alerts")
    period = term(engine)
    day = date.today()
    rows = "\n".join(f"stu-{i},{COURSE},{PERIOD},{day.isoformat()},{i * 3},{20 - i}" for i in range(8))
    content = f"user_id,course_id,period_id,as_of_date,absences,interim_grade_1\n{rows}\n".encode()
    apply_upload(engine, store, receive_upload(engine, store, content).upload_id)
    caplog.set_level(logging.DEBUG)

    with dg.instance_for_test() as instance:
        result, _ = make_report_batch(engine, [ReportKey(COURSE, PERIOD, day)], FixedModel(), instance)
        assert result.success
        (record,) = list_reports(engine, COURSE, PERIOD)
        assert record.students == 8 and period.contains(record.report_date)
        (observation,) = result.asset_observations_for_node("period_reports")
        metadata = observation.metadata
        assert metadata["status"].value == "made" and metadata["report_id"].value == record.report_id
        assert metadata["notifications"].value == {"email": "failed", "webhook": "sent"}
    events = {p["event"]: p for p in posted}
    assert events["report_ready"]["report_id"] == record.report_id and events["report_ready"]["students"] == 8
    assert events["notification_failed"]["channel"] == "email"
    assert "ConnectionRefusedError" in events["notification_failed"]["text"]
    assert "uni.example" not in json.dumps(posted) and "@uni.example" not in logged(caplog)
    assert "report notification failed" in logged(caplog)
