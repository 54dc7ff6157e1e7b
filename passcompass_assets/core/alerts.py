"""Alerts to a Slack-compatible webhook (JSON body with ``text``); without a webhook, a log line only.

An alert never carries personal data: only ids (course, period, upload, run), counts and model facts.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

log = logging.getLogger("passcompass.alerts")


def send_alert(webhook_url: str | None, event: str, text: str, **fields: object) -> bool:
    """Post the alert; True when a webhook accepted it. Delivery failures are logged, never raised."""
    payload = {"text": f"PassCompass: {text}", "event": event, **fields}
    log.warning("alert %s: %s", event, text, extra={"event": event, **fields})
    if not webhook_url:
        return False
    request = urllib.request.Request(
        webhook_url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        log.error("alert delivery failed: %s", type(exc).__name__, extra={"event": event})
        return False
