"""schemathesis against the app's own ``/openapi.json``, in process (ASGI), on SQLite and PostgreSQL: whatever
it generates (valid and invalid requests, every operation), no answer is a 5xx. Every request carries an admin's
token (so the generated inputs reach the routes, not only the sign-in check), and the rate limits are off.

Bounded: ``PASSCOMPASS_SCHEMATHESIS_EXAMPLES`` examples per operation (default 25), derandomised in CI.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from conftest import admin_token, bearer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from passcompass_api.main import create_app
from passcompass_assets.core.db.migrate import upgrade
from passcompass_assets.core.settings import Settings

# One app for the schema; each test points it at its own database (the app reads its settings per request).
# schemathesis' lazy fixture loader does not run on pytest 9, hence the module-level schema.
HOME = tempfile.TemporaryDirectory(prefix="pc_schemathesis_")  # removed when the session ends
SCHEMA_SETTINGS = Settings(home=Path(HOME.name))
upgrade(SCHEMA_SETTINGS.db_url)
APP = create_app(SCHEMA_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, headers=bearer(admin_token(SCHEMA_SETTINGS.db_url)))
HEADERS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def app_on_the_database_under_test(settings):
    APP.state.settings = settings.model_copy(update={"upload_rate_per_minute": 0, "report_request_rate_per_minute": 0})
    HEADERS.update(bearer(admin_token(settings.db_url)))


@schema.parametrize()
@hypothesis_settings(
    max_examples=int(os.environ.get("PASSCOMPASS_SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_a_server_error(case):
    case.call_and_validate(headers=HEADERS, checks=[not_a_server_error])
