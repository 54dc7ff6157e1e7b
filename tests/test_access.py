"""Access control, on SQLite and PostgreSQL where it touches the database: API tokens (CLI, hashes, expiry,
revocation), OpenID Connect bearer JWTs against a local key set and the page's sign-in with PKCE against a local
fake provider (no network), the session cookie and CSRF, trusted hosts, same-origin changes, CORS, rate limits,
the offline docs page, the access log, and database errors that never carry the values of a row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import admin_token, bearer
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from passcompass_api.main import create_app
from passcompass_assets.cli import main as cli
from passcompass_assets.core.access import oidc
from passcompass_assets.core.access.audit import list_access, purge_access_log, record_access
from passcompass_assets.core.access.tokens import bootstrap_signin, create_token, revoke_token, verify_token
from passcompass_assets.core.db.tables import access_log, api_tokens
from passcompass_assets.core.ingest import apply
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.store import store_report
from passcompass_assets.operations import process_pending

CSV = b"user_id,course_id,age\ns1,math,17\ns2,math,18\n"


def app_client(settings, **changes: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=changes)), raise_server_exceptions=False)


def add_report(engine, settings, course: str = "math") -> str:
    today = date.today()
    period = Period("now", today - timedelta(weeks=4), today + timedelta(weeks=8), 3)
    upsert_period(engine, period)
    scored = pd.DataFrame(
        {
            "user_id": ["s1", "s2"],
            "fail_probability": [0.7, 0.2],
            "predicted_final_grade": [8.0, 14.0],
            "top_factors": ["", ""],
            "signals_available": ["no interim grade yet"] * 2,
        }
    )
    report = build_report(
        scored, course_id=course, period=period, as_of=today, model=None, risk_high=0.5, risk_medium=0.25
    )
    return store_report(engine, settings.reports_dir, report)


# --- API tokens ------------------------------------------------------------------------------------------------


def test_token_cli_create_list_revoke(settings, engine, capsys):
    assert cli(["token", "create", "--role", "instructor", "--course", "math", "--expires", "30", "--label", "t"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("pc_") and "instructor" in out.err and "courses math" in out.err
    token_id = token.split("_")[1]
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).one()
    assert row.secret_sha256 == hashlib.sha256(token.split("_", 2)[2].encode()).hexdigest()
    dump = json.dumps([str(v) for v in row])
    assert token.split("_", 2)[2] not in dump  # only the hash is stored

    assert cli(["token", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["token_id"] == token_id and listed["status"] == "active" and listed["courses"] == ["math"]
    assert "secret" not in json.dumps(listed)

    with app_client(settings) as client:
        assert client.get("/api/v1/me", headers=bearer(token)).json()["roles"] == ["instructor"]
        assert cli(["token", "revoke", token_id]) == 0
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert cli(["token", "revoke", token_id]) == 1
    # Courses belong to instructors and viewers; an instructor needs one.
    assert cli(["token", "create", "--role", "uploader", "--course", "math"]) == 2
    assert cli(["token", "create", "--role", "viewer"]) == 2


def test_tokens_expire_and_compare_whole(settings, engine):
    good = create_token(engine, "viewer", ["*"]).token
    assert verify_token(engine, good) is not None
    assert verify_token(engine, good[:-1] + ("A" if good[-1] != "A" else "B")) is None
    assert verify_token(engine, good + "x") is None and verify_token(engine, "pc_zz_x") is None
    expired = create_token(engine, "viewer", ["*"], expires_in=timedelta(seconds=-1)).token
    assert verify_token(engine, expired) is None
    with app_client(settings) as client:
        answer = client.get("/api/v1/me", headers=bearer(expired))
        assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated"
        assert client.get("/api/v1/me", headers={"Authorization": "Basic eDp5"}).status_code == 401
        assert client.get("/api/v1/me", headers=bearer(good)).json()["all_courses"] is True


def test_signin_link_works_once_and_strips_the_token(settings, engine):
    link = bootstrap_signin(engine, 24)
    assert verify_token(engine, link) is None  # a sign-in link is not an API token
    with app_client(settings) as client:
        first = client.get("/", params={"token": link}, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and link not in cookie
        assert "Secure" not in cookie  # plain HTTP here; over HTTPS (or PASSCOMPASS_COOKIE_SECURE) it is
        page = client.get("/")
        assert page.status_code == 200 and "token:" in page.text and "(admin)" in page.text
        client.cookies.clear()
        again = client.get("/", params={"token": link}, follow_redirects=False)
        assert again.status_code == 401 and "not valid" in again.text
        assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin?next=")
    with app_client(settings, cookie_secure=True) as client:
        answer = client.post("/signin", data={"token": admin_token(settings.db_url)}, follow_redirects=False)
        assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


def test_a_link_signs_in_only_with_a_one_time_token(settings, engine):
    """``/?token=`` takes one-time sign-in links only: an API token in a link would sign a victim in as whoever
    made the link (and teaches people to put long-lived tokens in URLs). The sign-in form still takes one."""
    api = create_token(engine, "viewer", ["*"]).token
    with app_client(settings) as client:
        answer = client.get("/", params={"token": api}, follow_redirects=False)
        assert answer.status_code == 401 and "set-cookie" not in answer.headers
        assert "not valid" in answer.text and api not in answer.text
        assert client.get("/api/v1/me").status_code == 401
        assert verify_token(engine, api) is not None  # refused in the link, the token itself is untouched
        form = client.post("/signin", data={"token": api}, follow_redirects=False)
        assert form.status_code == 303 and client.get("/api/v1/me").json()["via"] == "session"


def test_session_cookie_changes_need_the_csrf_token(settings, engine, default_period):
    token = admin_token(settings.db_url)
    with app_client(settings) as client:
        assert client.post("/signin", data={"token": token}, follow_redirects=False).status_code == 303
        page = client.get("/").text
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        files = {"file": ("a.csv", CSV, "text/csv")}
        refused = client.post("/api/v1/uploads", files=files)
        assert refused.status_code == 403 and refused.json()["error"] == "csrf"
        wrong = client.post("/api/v1/uploads", files=files, headers={"X-CSRF-Token": "x" * len(csrf)})
        assert wrong.status_code == 403
        assert client.post("/api/v1/uploads", files=files, headers={"X-CSRF-Token": csrf}).status_code == 202
        assert client.get("/api/v1/me").json()["via"] == "session"  # reading needs no CSRF token
        # Revoking the token ends the session at once.
        revoke_token(engine, token.split("_")[1])
        assert client.get("/api/v1/me").status_code == 401
        # A forged cookie is no session.
        client.cookies.set("passcompass_session", "e30.forged.signature")
        assert client.get("/api/v1/me").status_code == 401


def test_cross_site_changes_unknown_hosts_and_cors(settings, engine, default_period):
    headers = bearer(admin_token(settings.db_url))
    files = {"file": ("a.csv", CSV, "text/csv")}
    with app_client(settings) as client:
        evil = client.post("/api/v1/final-grades", files=files, headers={**headers, "Origin": "https://evil.example"})
        assert evil.status_code == 403 and evil.json()["error"] == "cross_origin"
        site = client.post("/api/v1/uploads", files=files, headers={**headers, "Sec-Fetch-Site": "cross-site"})
        assert site.status_code == 403
        same = client.post("/api/v1/uploads", files=files, headers={**headers, "Origin": "http://testserver"})
        assert same.status_code == 202
        # Without any credential the body is not even read.
        anonymous = client.post("/api/v1/uploads", files=files)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
        host = client.get("/api/v1/health", headers={"Host": "attacker.example"})
        assert host.status_code == 400 and host.json()["error"] == "invalid_host"
        assert client.get("/api/v1/health", headers={"Host": "localhost:8000"}).status_code == 200
        preflight = client.options(
            "/api/v1/me", headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in preflight.headers  # CORS closed by default
        assert client.get("/api/v1/health").headers["x-content-type-options"] == "nosniff"
    with app_client(settings, cors_origins="https://app.example.org", trusted_hosts="*.example.org,testserver") as c:
        answer = c.get("/api/v1/me", headers={**headers, "Origin": "https://app.example.org"})
        assert answer.headers["access-control-allow-origin"] == "https://app.example.org"
        assert c.get("/api/v1/health", headers={"Host": "pc.example.org"}).status_code == 200
        assert c.get("/api/v1/health", headers={"Host": "example.org.evil"}).status_code == 400


def test_rate_limits_answer_429_with_retry_after(settings, engine, store, default_period):
    headers = bearer(admin_token(settings.db_url))
    other = bearer(admin_token(settings.db_url))
    with app_client(settings, upload_rate_per_minute=2, report_request_rate_per_minute=1) as client:
        for n in range(2):
            ok = client.post(
                "/api/v1/uploads", files={"file": ("a.csv", CSV + f"s{n + 3},math,19\n".encode())}, headers=headers
            )
            assert ok.status_code == 202
        limited = client.post("/api/v1/uploads", files={"file": ("a.csv", CSV)}, headers=headers)
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert client.post("/api/v1/final-grades", files={"file": ("g.csv", b"x")}, headers=headers).status_code == 429
        assert client.post("/api/v1/uploads", files={"file": ("a.csv", CSV)}, headers=other).status_code == 202
        upsert_period(engine, Period("now", date.today() - timedelta(days=5), date.today() + timedelta(days=60), 3))
        apply.apply_upload(engine, store, receive_upload(engine, store, CSV, period_id="now").upload_id)
        assert client.post("/api/v1/reports", params={"course_id": "math"}, headers=headers).status_code == 202
        again = client.post("/api/v1/reports", params={"course_id": "math"}, headers=headers)
        assert again.status_code == 429 and "retry-after" in again.headers


def test_predictions_are_rate_limited(settings):
    headers = bearer(admin_token(settings.db_url))
    rows = [{"user_id": "s1", "course_id": "math"}]
    with app_client(settings, predict_rate_per_minute=1) as client:
        first = client.post("/api/v1/predict", json=rows, headers=headers)
        assert first.status_code == 409 and first.json()["error"] == "no_model"  # counted all the same
        limited = client.post("/api/v1/predict", json=rows, headers=headers)
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_predict_refusal_names_no_course_from_the_rows(settings, engine):
    """The rows' course ids are cell values: a 403 says how many are not granted, never which."""
    instructor = bearer(create_token(engine, "instructor", ["math"]).token)
    rows = [{"user_id": "s1", "course_id": "math"}, {"user_id": "s2", "course_id": "Zq-hidden-77"}]
    rows += [{"user_id": "s3", "course_id": "bio-101"}]
    with app_client(settings) as client:
        answer = client.post("/api/v1/predict", json=rows, headers=instructor)
    assert answer.status_code == 403 and set(answer.json()) == {"error", "detail", "problems"}
    assert "2 course" in answer.json()["detail"]
    assert "Zq-hidden-77" not in answer.text and "bio-101" not in answer.text


# --- the offline docs ------------------------------------------------------------------------------------------


def test_docs_are_served_from_the_platform_behind_sign_in(settings):
    with app_client(settings) as client:
        assert client.get("/docs", follow_redirects=False).headers["location"] == "/signin?next=%2Fdocs"
        assert client.get("/redoc").status_code == 404
        assert client.get("/openapi.json").status_code == 401
        client.headers.update(bearer(admin_token(settings.db_url)))
        docs = client.get("/docs")
        assert docs.status_code == 200
        policy = docs.headers["content-security-policy"]
        assert "http" not in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
        html = docs.text
        assert "<script>" not in html and "http://" not in html and "https://" not in html and "//" not in html
        references = [r.split('"')[0] for r in html.split('src="')[1:] + html.split('href="')[1:]]
        assert references and all(r.startswith("/") and not r.startswith("//") for r in references), references
        for reference in references:
            asset = client.get(reference)
            assert asset.status_code == 200 and len(asset.content) > 100, reference
        spec = client.get("/openapi.json").json()
        assert {"token", "session"} <= set(spec["components"]["securitySchemes"])


# --- the access log --------------------------------------------------------------------------------------------


def test_downloads_are_in_the_access_log(settings, engine):
    report_id = add_report(engine, settings)
    viewer = create_token(engine, "viewer", ["math"])
    with app_client(settings) as client:
        assert client.get(f"/api/v1/reports/{report_id}?format=csv", headers=bearer(viewer.token)).status_code == 200
        latest = client.get("/api/v1/reports/latest", params={"course_id": "math"}, headers=bearer(viewer.token))
        assert latest.status_code == 200
        assert client.get("/api/v1/audit", headers=bearer(viewer.token)).status_code == 403
        entries = client.get("/api/v1/audit", headers=bearer(admin_token(settings.db_url))).json()
    assert [(e["principal"], e["action"], e["target"], e["course_id"]) for e in entries] == [
        (f"token:{viewer.info.token_id}", "report.download", f"report:{report_id}?format=json", "math"),
        (f"token:{viewer.info.token_id}", "report.download", f"report:{report_id}?format=csv", "math"),
    ]
    record_access(engine, "oidc:someone", "prediction", "course:math", "math")
    assert list_access(engine, principal="oidc:someone")[0].action == "prediction"
    with engine.begin() as conn:
        conn.execute(
            access_log.update()
            .where(access_log.c.principal == "oidc:someone")
            .values(at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    assert purge_access_log(engine, keep_days=365) == 1 and len(list_access(engine)) == 2


def test_the_access_log_since_any_offset(settings, engine):
    """`since` is an instant: the same one in any offset selects the same entries, extreme offsets answer 200."""
    record_access(engine, "oidc:early", "prediction", "course:math", "math")
    record_access(engine, "oidc:late", "prediction", "course:math", "math")
    with engine.begin() as conn:
        conn.execute(
            access_log.update()
            .where(access_log.c.principal == "oidc:early")
            .values(at=datetime(2026, 1, 1, 9, tzinfo=UTC))
        )
        conn.execute(
            access_log.update()
            .where(access_log.c.principal == "oidc:late")
            .values(at=datetime(2026, 1, 1, 11, tzinfo=UTC))
        )
    admin = bearer(admin_token(settings.db_url))
    with app_client(settings) as client:
        for since in ("2026-01-01T10:00:00Z", "2026-01-01T15:30:00+05:30", "2026-01-01T00:00:00-10:00"):
            entries = client.get("/api/v1/audit", params={"since": since}, headers=admin).json()
            assert [e["principal"] for e in entries] == ["oidc:late"], since
        for since in ("0001-01-01T00:00:00+23:30", "0227-01-12T01:14:40+23:30", "9999-12-31T23:59:59-23:30"):
            assert client.get("/api/v1/audit", params={"since": since}, headers=admin).status_code == 200, since


# --- database errors carry no values ---------------------------------------------------------------------------

SECRET = "Zq-secret-7731"


def test_a_database_error_keeps_the_values_out_of_the_upload(
    settings, engine, store, dagster_home, monkeypatch, default_period
):
    """An ingestion run failing on a database error whose statement held a row's value: neither the parameters
    nor the driver's quotation of the value (PostgreSQL's DETAIL) reach the upload's error, its API answer, or
    Dagster's storage."""
    received = receive_upload(engine, store, f"user_id,course_id\n{SECRET},c\n".encode())
    upsert = apply.upsert

    def failing(conn, table, data, provenance, **kwargs):
        statement = sa.text("INSERT INTO periods (period_id, start_date, end_date) VALUES (:p, :d, :d)")
        for _ in range(2):  # the second insert of the same key fails
            conn.execute(statement, {"p": SECRET, "d": date(2026, 1, 1)})
        upsert(conn, table, data, provenance, **kwargs)

    monkeypatch.setattr(apply, "upsert", failing)
    [result] = process_pending(settings)
    assert result.status == "failed" and "IntegrityError" in str(result.error)
    with app_client(settings) as client:
        answer = client.get(f"/api/v1/uploads/{received.upload_id}", headers=bearer(admin_token(settings.db_url)))
    assert answer.status_code == 200 and answer.json()["error"]
    assert SECRET not in answer.text and answer.json()["error"].startswith("IntegrityError: ")
    for path in Path(dagster_home).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    with engine.connect() as conn:  # on PostgreSQL, Dagster's run storage is in this database too
        for table in sa.inspect(conn).get_table_names():
            assert SECRET not in pd.read_sql(sa.text(f'SELECT * FROM "{table}"'), conn).to_csv(), table


# --- OpenID Connect, against a local fake provider --------------------------------------------------------------


class Provider:
    """An OpenID provider on 127.0.0.1: discovery, a JWKS, and the authorization-code flow with PKCE."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}
        self.claims: dict[str, Any] = {"sub": "alice", "roles": ["instructor"], "courses": ["math"]}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def token(self, audience: str = "passcompass-api", lifetime: int = 300, key=None, kid: str = "k1", **claims) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": audience, "iat": now, "exp": now + lifetime, **self.claims, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, body: object, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": provider.issuer + "/authorize",
                            "token_endpoint": provider.issuer + "/token",
                            "jwks_uri": provider.issuer + "/jwks",
                        }
                    )
                elif url.path == "/jwks":
                    self._json(provider.jwks())
                elif url.path == "/authorize":
                    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
                    code = f"code-{len(provider.codes)}"
                    provider.codes[code] = query
                    target = (
                        query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:  # noqa: N802
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                started = provider.codes.pop(form.get("code", ""), None)
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if started is None or started["code_challenge"] != challenge or form["client_id"] != "passcompass":
                    self._json({"error": "invalid_grant"}, 400)
                    return
                id_token = provider.token(audience="passcompass", nonce=started["nonce"])
                self._json({"id_token": id_token, "access_token": "opaque", "token_type": "Bearer"})

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def provider() -> Iterator[Provider]:
    fake = Provider()
    yield fake
    fake.server.shutdown()
    oidc._discovered.clear()
    oidc._jwk_clients.clear()


def oidc_settings(settings, provider: Provider, **changes: Any):
    return settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": "passcompass",
            "oidc_audience": "passcompass-api",
            **changes,
        }
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_oidc_bearer_tokens_checked_against_the_jwks(settings, engine, provider):
    add_report(engine, settings, "math")
    add_report(engine, settings, "bio")
    with TestClient(create_app(oidc_settings(settings, provider)), raise_server_exceptions=False) as client:
        good = bearer(provider.token())
        me = client.get("/api/v1/me", headers=good).json()
        assert me == {
            "principal": "oidc:alice",
            "roles": ["instructor"],
            "courses": ["math"],
            "all_courses": False,
            "via": "oidc",
        }
        assert client.get("/api/v1/reports", params={"course_id": "math"}, headers=good).status_code == 200
        assert client.get("/api/v1/reports", params={"course_id": "bio"}, headers=good).status_code == 403
        assert client.get("/api/v1/audit", headers=good).status_code == 403
        admin = bearer(provider.token(roles="viewer admin"))  # a space-separated claim
        assert client.get("/api/v1/audit", headers=admin).status_code == 200
        nobody = bearer(provider.token(roles=["someone-else"]))
        assert client.get("/api/v1/me", headers=nobody).status_code == 403
        for page in ("/", "/docs"):  # signed in, but with no role: nothing to show
            assert client.get(page, headers=nobody).status_code == 403
        for bad in (
            provider.token(audience="another-app"),
            provider.token(lifetime=-120),  # expired (past the 30 s leeway)
            provider.token(iss="https://impostor.example"),
            provider.token(key=provider.other_key),  # not the issuer's key
            provider.token(key=provider.other_key, kid="unknown"),
            jwt.encode({"sub": "x", "iss": provider.issuer, "aud": "passcompass-api", "exp": 9999999999}, None, "none"),
            "not.a.jwt",
        ):
            answer = client.get("/api/v1/me", headers=bearer(bad))
            assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated", bad
        # The record of who read what names the subject.
        report_id = client.get("/api/v1/reports", params={"course_id": "math"}, headers=good).json()[0]["report_id"]
        assert client.get(f"/api/v1/reports/{report_id}", headers=good).status_code == 200
    assert list_access(engine)[0].principal == "oidc:alice"
    # Roles under a nested claim, with a prefix.
    nested = oidc_settings(settings, provider, oidc_roles_claim="realm_access.roles", oidc_role_prefix="passcompass-")
    with TestClient(create_app(nested), raise_server_exceptions=False) as client:
        token = provider.token(roles=[], realm_access={"roles": ["passcompass-viewer", "offline_access"]})
        assert client.get("/api/v1/me", headers=bearer(token)).json()["roles"] == ["viewer"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_page_signs_in_through_the_provider_with_pkce(settings, engine, provider):
    add_report(engine, settings, "math")
    app = create_app(oidc_settings(settings, provider))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        signin = client.get("/signin")
        assert 'id="signin-oidc"' in signin.text
        start = client.get("/auth/oidc/start", params={"next": "/"})
        assert start.status_code == 302 and start.headers["location"].startswith(provider.issuer + "/authorize?")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["location"]).query))
        assert query["redirect_uri"] == "http://testserver/auth/oidc/callback" and len(query["code_challenge"]) == 43
        import httpx

        back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
        callback = urllib.parse.urlsplit(back)
        # A callback whose state is not the one this browser started is refused.
        forged = client.get(callback.path, params={"code": "code-x", "state": "forged"})
        assert forged.status_code == 400
        done = client.get(callback.path + "?" + callback.query)
        assert done.status_code == 303 and done.headers["location"] == "/"
        page = client.get("/")
        assert page.status_code == 200 and "oidc:alice (instructor)" in page.text and 'data-course="math"' in page.text
        # The code was spent: the same callback again does not sign in (the sign-in cookie is gone too).
        cookie = client.cookies["passcompass_session"]
        client.cookies.clear()
        assert client.get(callback.path + "?" + callback.query).status_code == 400
        # An OIDC session ends on the server: signing out, or an admin ending the subject's sessions.
        client.cookies.set("passcompass_session", cookie)
        csrf = client.get("/").text.split('name="csrf-token" content="')[1].split('"')[0]
        assert client.post("/signout", data={"csrf_token": csrf}).status_code == 303
        client.cookies.set("passcompass_session", cookie)
        assert client.get("/api/v1/me").status_code == 401
        client.cookies.clear()
        again = httpx.get(client.get("/auth/oidc/start").headers["location"], follow_redirects=False)
        assert client.get(again.headers["location"]).status_code == 303
        assert client.get("/api/v1/me").json()["principal"] == "oidc:alice"
        admin = bearer(admin_token(settings.db_url))
        ended = client.delete("/api/v1/sessions", params={"principal": "oidc:alice"}, headers=admin)
        assert ended.status_code == 200 and ended.json()["ended"] == 1
        assert client.get("/api/v1/me").status_code == 401


# --- ending sessions ---------------------------------------------------------------------------------------------


def signed_in_client(settings, token: str) -> tuple[TestClient, str, str]:
    """A client signed in to the page with ``token``: the client, its session cookie and the page's CSRF token."""
    client = app_client(settings)
    answer = client.post("/signin", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303
    csrf = client.get("/").text.split('name="csrf-token" content="')[1].split('"')[0]
    return client, client.cookies["passcompass_session"], csrf


def test_signing_out_ends_the_session_on_the_server(settings, engine, capsys):
    """Sign-out revokes the session itself: the cookie replayed afterwards is refused. An admin ends every session
    of a principal (API and CLI) without revoking the token behind them."""
    client, cookie, csrf = signed_in_client(settings, admin_token(settings.db_url))
    with client:
        assert client.get("/api/v1/me").json()["via"] == "session"
        out = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        client.cookies.set("passcompass_session", cookie)  # replayed, as a copied cookie would be
        replayed = client.get("/api/v1/me")
        assert replayed.status_code == 401 and replayed.json()["error"] == "unauthenticated"
        assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin")

    instructor = create_token(engine, "instructor", ["math"])
    principal = f"token:{instructor.info.token_id}"
    first, _, _ = signed_in_client(settings, instructor.token)
    second, _, _ = signed_in_client(settings, instructor.token)
    admin = bearer(admin_token(settings.db_url))
    with first, second:
        assert first.get("/api/v1/me").status_code == 200 and second.get("/api/v1/me").status_code == 200
        assert first.delete("/api/v1/sessions", params={"principal": principal}).status_code == 403  # not an admin
        ended = first.delete("/api/v1/sessions", params={"principal": principal}, headers=admin)
        assert ended.status_code == 200 and ended.json() == {"principal": principal, "ended": 2}
        assert first.get("/api/v1/me").status_code == 401 and second.get("/api/v1/me").status_code == 401
        # The token itself still works: ending sessions is not revoking it.
        assert first.get("/api/v1/me", headers=bearer(instructor.token)).status_code == 200
        again = first.delete("/api/v1/sessions", params={"principal": principal}, headers=admin)
        assert again.json()["ended"] == 0
        bad = first.delete("/api/v1/sessions", params={"principal": "someone"}, headers=admin)
        assert bad.status_code == 422 and set(bad.json()) == {"error", "detail", "problems"}

    third, _, _ = signed_in_client(settings, instructor.token)
    with third:
        assert cli(["session", "end", "--principal", principal]) == 0
        assert "1 session" in capsys.readouterr().out
        assert third.get("/api/v1/me").status_code == 401
    # Revoking the token ends the sessions opened with it.
    fourth, _, _ = signed_in_client(settings, instructor.token)
    with fourth:
        revoke_token(engine, instructor.info.token_id)
        assert fourth.get("/api/v1/me").status_code == 401
        assert cli(["session", "end", "--principal", principal]) == 0
        assert "0 sessions" in capsys.readouterr().out  # the revocation ended it already
