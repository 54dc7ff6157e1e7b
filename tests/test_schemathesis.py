"""schemathesis against the app's own ``/openapi.json``, in process (ASGI), on SQLite and PostgreSQL: whatever
it generates (valid and invalid requests, every operation), every check schemathesis has passes (``--checks all``):
no answer is a 5xx, every answer is one the document declares (status, content type, headers, body: refusals in
the error shape), invalid input is refused and valid input accepted, 405s name what is allowed. Every request
carries an admin's token (so the generated inputs reach the routes, not only the sign-in check), and the rate
limits are off.

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
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from passcompass_api.main import create_app
from passcompass_assets.core.db.migrate import upgrade
from passcompass_assets.core.settings import Settings

# One app for the schema; each test points it at its own database (the app reads its settings per request).
# schemathesis' lazy fixture loader does not run on pytest 9, hence the module-level schema.
HOME = tempfile.TemporaryDirectory(prefix="pc_schemathesis_")  # removed when the session ends
SCHEMA_SETTINGS = Settings(home=Path(HOME.name))
upgrade(SCHEMA_SETTINGS.db_url)
APP = create_app(SCHEMA_SETTINGS)
# What a request the document allows may still be refused for, per operation: rules a schema cannot state (a CSV's
# or the rows' content, read as an upload's; a term's end after its start; a pass mark within the scale). Each is a
# documented 4xx in the error shape (which response_schema_conformance checks); every other operation must accept
# whatever the document allows (positive_data_acceptance).
BEYOND_THE_SCHEMA = {
    ("POST", "/api/v1/uploads"): [400, 413, 415, 422],
    ("POST", "/api/v1/final-grades"): [400, 413, 415, 422],
    ("POST", "/api/v1/predict"): [400, 413, 415, 422],
    ("PUT", "/api/v1/periods/{period_id}"): [422],
    ("PUT", "/api/v1/courses/{course_id}"): [422],
}
ACCEPTED = ["2xx", 401, 403, 404, 409, 429]  # schemathesis' own, but for 3xx (no route redirects) and 5xx
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-method": method,
                "include-path": path,
                "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + statuses}},
            }
            for (method, path), statuses in BEYOND_THE_SCHEMA.items()
        ]
    }
)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, headers=bearer(admin_token(SCHEMA_SETTINGS.db_url)), config=CONFIG
)
HEADERS: dict[str, str] = {}
load_all_checks()
ALL_CHECKS = CHECKS.get_all()  # the CLI's --checks all


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
    case.call_and_validate(headers=HEADERS, checks=ALL_CHECKS, timeout=120)  # MLflow's first start is slow


def test_the_document_describes_the_error_shape():
    """Every refusal a route documents is the API's one error shape, ``ErrorOut``; FastAPI's ``HTTPValidationError``
    (which the API never answers) is not in the document."""
    spec = APP.openapi()
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    assert set(spec["components"]["schemas"]["ErrorOut"]["required"]) == {"error", "detail"}
    refusals = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            has_input = operation.get("parameters") or operation.get("requestBody")
            assert not has_input or "422" in operation["responses"], f"{method} {path}: its 422 is not documented"
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
                    refusals += 1
    assert refusals > 60


def test_405_names_the_methods_allowed(client):
    for method, path, allowed in (
        ("DELETE", "/api/v1/periods", {"GET"}),
        ("PATCH", "/api/v1/reports", {"GET", "POST"}),
        ("TRACE", "/api/v1/health", {"GET"}),
    ):
        answer = client.request(method, path)
        assert answer.status_code == 405 and set(answer.json()) == {"error", "detail", "problems"}, path
        assert set(answer.headers["allow"].split(", ")) == allowed, (path, answer.headers.get("allow"))


def test_erasing_a_blank_student_id_is_refused(client):
    """Found by schemathesis: ``DELETE /api/v1/students/%20`` was a 500 (the erasure's ValueError)."""
    for user_id in ("%20", "%09%20"):
        answer = client.delete(f"/api/v1/students/{user_id}")
        assert answer.status_code == 422 and set(answer.json()) == {"error", "detail", "problems"}, user_id
