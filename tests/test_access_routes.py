"""Every route of ``/openapi.json``, on SQLite and PostgreSQL: with no credential (401), with each role it does not
grant (403), with an instructor or viewer of another course (403), never any data in those answers; and with each
role it grants, the documented answer.

:data:`POLICY` is the access policy, written out here independently of the code: a route the app serves that
it does not name fails the test (give every new route its line).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from test_rosters import oneroster

from passcompass_api.main import create_app
from passcompass_assets.core.access.roles import ROLES
from passcompass_assets.core.access.tokens import create_token
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.outcomes import Evaluation, LeadTime, store_evaluation
from passcompass_assets.core.reports.store import store_report

GRANTED, OTHER, PERIOD = "granted-course", "other-course", "p-now"
SECRET_STUDENT = "stu-7f3a91"  # a student in the seeded data: no refused answer may name it
CSV = f"user_id,course_id,age\n{SECRET_STUDENT},{GRANTED},17\nstu-2,{GRANTED},18\n".encode()
ACTIVITY = f"user_id,course_id,timestamp,event_type\n{SECRET_STUDENT},{GRANTED},2026-09-08,quiz\n".encode()
ROSTER = oneroster()
GRADES = f"user_id,course_id,final_grade\n{SECRET_STUDENT},{GRANTED},8\n".encode()


@dataclass
class Call:
    """How to call a route with valid inputs: ``path`` may name ``{report_id}`` and ``{upload_id}``."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
    files: Callable[[], dict[str, Any]] | None = None
    json: dict[str, Any] | list[dict[str, Any]] | None = None
    ok: frozenset[int] = frozenset({200, 201, 202})  # the right credential's documented answers here


def upload_files(content: bytes) -> Callable[[], dict[str, Any]]:
    counter = iter(range(10_000))
    # A new content every call (a repeat would be answered as a duplicate, 200, which is documented as well).
    return lambda: {"file": ("data.csv", content + f"stu-x{next(counter)},{GRANTED},19\n".encode(), "text/csv")}


ADMIN_ONLY = {"admin"}
READERS = {"admin", "instructor", "viewer"}
# (method, path) -> (roles that may, course-scoped, a valid call)
POLICY: dict[tuple[str, str], tuple[set[str], bool, Call]] = {
    ("post", "/api/v1/uploads"): ({"admin", "uploader"}, False, Call("/api/v1/uploads", files=upload_files(CSV))),
    ("post", "/api/v1/final-grades"): (
        {"admin", "uploader"},
        False,
        Call("/api/v1/final-grades", files=lambda: {"file": ("g.csv", GRADES, "text/csv")}),
    ),
    ("post", "/api/v1/activity"): (
        {"admin", "uploader"},
        False,
        Call(
            "/api/v1/activity", files=lambda: {"file": ("log.csv", ACTIVITY, "text/csv"), "format": (None, "generic")}
        ),
    ),
    ("post", "/api/v1/rosters"): (
        ADMIN_ONLY,
        False,
        Call(
            "/api/v1/rosters",
            files=lambda: {"file": ("roster.zip", ROSTER, "application/zip"), "dry_run": (None, "true")},
        ),
    ),
    ("get", "/api/v1/uploads/{upload_id}"): ({"admin", "uploader"}, False, Call("/api/v1/uploads/{upload_id}")),
    ("put", "/api/v1/periods/{period_id}"): (
        ADMIN_ONLY,
        False,
        Call("/api/v1/periods/p-next", json={"start_date": "2027-01-04", "end_date": "2027-04-05"}),
    ),
    ("delete", "/api/v1/periods/{period_id}"): (
        ADMIN_ONLY,
        False,
        Call("/api/v1/periods/p-next", ok=frozenset({204})),  # declared just above, with no data
    ),
    ("get", "/api/v1/periods"): (set(ROLES), False, Call("/api/v1/periods")),
    ("get", "/api/v1/reports"): (READERS, True, Call("/api/v1/reports", {"course_id": GRANTED})),
    ("get", "/api/v1/reports/latest"): (READERS, True, Call("/api/v1/reports/latest", {"course_id": GRANTED})),
    ("get", "/api/v1/reports/work"): (READERS, True, Call("/api/v1/reports/work", {"course_id": GRANTED})),
    ("get", "/api/v1/reports/{report_id}"): (READERS, True, Call("/api/v1/reports/{report_id}", {"format": "csv"})),
    ("post", "/api/v1/reports"): ({"admin", "instructor"}, True, Call("/api/v1/reports", {"course_id": GRANTED})),
    ("get", "/api/v1/evaluations"): (
        READERS,
        True,
        Call("/api/v1/evaluations", {"course_id": GRANTED, "period_id": PERIOD}),
    ),
    # Actions on a student's flag: the course is the body's; instructors record, readers list.
    ("post", "/api/v1/actions"): (
        {"admin", "instructor"},
        True,
        Call(
            "/api/v1/actions",
            json={"course_id": GRANTED, "period_id": PERIOD, "user_id": SECRET_STUDENT, "kind": "contacted"},
        ),
    ),
    ("get", "/api/v1/actions"): (READERS, True, Call("/api/v1/actions", {"course_id": GRANTED, "format": "csv"})),
    ("get", "/api/v1/me"): (set(ROLES), False, Call("/api/v1/me")),
    ("get", "/api/v1/audit"): (ADMIN_ONLY, False, Call("/api/v1/audit")),
    ("get", "/api/v1/erasures"): (ADMIN_ONLY, False, Call("/api/v1/erasures")),
    ("delete", "/api/v1/students/{user_id}"): (ADMIN_ONLY, False, Call("/api/v1/students/nobody-here")),
    ("delete", "/api/v1/sessions"): (ADMIN_ONLY, False, Call("/api/v1/sessions", {"principal": "oidc:nobody"})),
    ("get", "/api/v1/catalog"): (set(ROLES), False, Call("/api/v1/catalog")),
    ("get", "/api/v1/courses"): (set(ROLES), False, Call("/api/v1/courses")),
    ("put", "/api/v1/courses/{course_id}"): (
        ADMIN_ONLY,
        False,
        Call(f"/api/v1/courses/{GRANTED}", json={"period_id": PERIOD, "grade_max": 20, "pass_mark": 10}),
    ),
    # Aggregates only (no student): any role. No model here: 404, its documented answer.
    ("get", "/api/v1/models/{version}/card"): (
        set(ROLES),
        False,
        Call("/api/v1/models/champion/card", {"format": "json"}, ok=frozenset({200, 404})),
    ),
    # The course is the rows' (the body): an instructor of another course is refused. No model here: 409.
    ("post", "/api/v1/predict"): (
        {"admin", "instructor"},
        True,
        Call("/api/v1/predict", json=[{"user_id": "p1", "course_id": GRANTED, "age": 17}], ok=frozenset({200, 409})),
    ),
}
PUBLIC = {("get", "/api/v1/health")}


def seed(engine, settings) -> dict[str, str]:
    today = date.today()
    period = Period(PERIOD, today - timedelta(weeks=6), today + timedelta(weeks=7), 3)
    upsert_period(engine, period)
    ids = {}
    for course in (GRANTED, OTHER):
        scored = pd.DataFrame(
            {
                "user_id": [SECRET_STUDENT, "stu-2"],
                "fail_probability": [0.8, 0.1],
                "predicted_final_grade": [7.0, 15.0],
                "top_factors": ["absences high", ""],
                "signals_available": ["no interim grade yet"] * 2,
            }
        )
        report = build_report(
            scored, course_id=course, period=period, as_of=today, model=None, risk_high=0.5, risk_medium=0.25
        )
        ids[course] = store_report(engine, settings.reports_dir, report)
    lead = LeadTime(1, 1, 1.0, 3.0, {SECRET_STUDENT: today.isoformat()})
    store_evaluation(settings.reports_dir, Evaluation(GRANTED, PERIOD, today.isoformat(), 2, 0.5, [], lead))
    store = LandingStore(settings.landing_dir)
    ids["upload"] = receive_upload(engine, store, CSV, period_id=PERIOD).upload_id
    apply_upload(engine, store, ids["upload"])
    return ids


@pytest.fixture
def walk(settings, engine, default_period):
    app = create_app(settings)
    ids = seed(engine, settings)
    tokens = {role: create_token(engine, role, [GRANTED] if role in ("instructor", "viewer") else []).token
              for role in ROLES}  # fmt: skip
    tokens["instructor-other"] = create_token(engine, "instructor", [OTHER]).token
    tokens["viewer-other"] = create_token(engine, "viewer", [OTHER]).token
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, tokens, ids


def send(client: TestClient, method: str, call: Call, ids: dict[str, str], token: str | None):
    path = call.path.format(report_id=ids[GRANTED], upload_id=ids["upload"])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(
        method.upper(),
        path,
        params=call.params,
        files=call.files() if call.files else None,
        json=call.json,
        headers=headers,
    )


def assert_refused(response, status: int, where: str) -> None:
    assert response.status_code == status, (where, response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error", "detail", "problems"}, where  # the error shape, nothing else
    assert SECRET_STUDENT not in response.text, where
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), where


def test_every_route_checks_its_credential(walk):
    client, tokens, ids = walk
    spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {tokens['admin']}"}).json()
    operations = {(m, p): op for p, item in spec["paths"].items() for m, op in item.items()}
    assert set(operations) == set(POLICY) | PUBLIC, "every route needs its line in POLICY (or to be public)"
    assert client.get("/openapi.json").status_code == 401

    checked = 0
    for (method, path), (allowed, course_scoped, call) in POLICY.items():
        where = f"{method.upper()} {path}"
        documented = set(operations[(method, path)]["responses"])
        assert {"401", "403"} <= documented, where
        assert_refused(send(client, method, call, ids, None), 401, f"{where} without a credential")
        assert_refused(send(client, method, call, ids, "pc_0123456789ab_not-a-real-secret"), 401, f"{where} bad")
        for role in set(ROLES) - allowed:
            assert_refused(send(client, method, call, ids, tokens[role]), 403, f"{where} as {role}")
        if course_scoped:
            for role in {"instructor", "viewer"} & allowed:
                assert_refused(
                    send(client, method, call, ids, tokens[f"{role}-other"]), 403, f"{where}, {role} of other"
                )
        for role in allowed:
            response = send(client, method, call, ids, tokens[role])
            assert str(response.status_code) in documented and response.status_code in call.ok, (
                where,
                role,
                response.status_code,
                response.text[:300],
            )
            checked += 1
    assert client.get("/api/v1/health").status_code == 200  # the one public route
    assert checked >= 25


def test_course_scoped_principals_see_only_their_courses(walk):
    client, tokens, ids = walk
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    listed = client.get("/api/v1/reports", params={"course_id": GRANTED}, headers=viewer)
    assert listed.status_code == 200 and [r["course_id"] for r in listed.json()] == [GRANTED]
    other_report = client.get(f"/api/v1/reports/{ids[OTHER]}", headers=viewer)
    assert_refused(other_report, 403, "viewer reading another course's report by id")
    assert other_report.json()["error"] == "course_not_granted"
    me = client.get("/api/v1/me", headers=viewer).json()
    assert me["roles"] == ["viewer"] and me["courses"] == [GRANTED] and not me["all_courses"]
    evaluation = client.get("/api/v1/evaluations", params={"course_id": GRANTED, "period_id": PERIOD}, headers=viewer)
    assert evaluation.status_code == 200 and json.loads(evaluation.text)["course_id"] == GRANTED
