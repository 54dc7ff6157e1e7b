"""schemathesis against the app's own ``/openapi.json``, in process (ASGI), on SQLite and PostgreSQL: whatever
it generates (valid and invalid requests, every operation), no answer is a 5xx.

Bounded: ``PASSCOMPASS_SCHEMATHESIS_EXAMPLES`` examples per operation (default 25), derandomised in CI.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from passcompass_api.main import create_app
from passcompass_assets.core.settings import Settings

# One app for the schema; each test points it at its own database (the app reads its settings per request).
# schemathesis' lazy fixture loader does not run on pytest 9, hence the module-level schema.
HOME = tempfile.TemporaryDirectory(prefix="pc_schemathesis_")  # removed when the session ends
APP = create_app(Settings(home=Path(HOME.name)))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(autouse=True)
def app_on_the_database_under_test(settings):
    APP.state.settings = settings


@schema.parametrize()
@hypothesis_settings(
    max_examples=int(os.environ.get("PASSCOMPASS_SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
