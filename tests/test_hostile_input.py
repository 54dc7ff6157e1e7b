"""The hostile-input corpus (``tests/hostile/``) through the API, on SQLite and PostgreSQL, and through the inbox.

Every file answers its documented status; a rejected one leaves no uploads row and no landed file; accepted data
reaches ``student_records`` verbatim (SQL- and formula-looking ids are data); the service keeps answering.
"""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import sqlalchemy as sa
from conftest import admin_token
from hostile.corpus import CASES, FILES, Hostile, write_files

from passcompass_assets.core.db.tables import student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.ingestion import inbox_sensor
from passcompass_assets.resources import PlatformResource

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package
from benchmarks._common import ApiServer  # noqa: E402

ERROR_KEYS = {"error", "detail", "problems"}


def stored(engine, settings) -> tuple[int, set[str]]:
    """(uploads rows, files in the landing store): what a rejected upload must leave unchanged."""
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one()
    return count, {p.name for p in settings.landing_dir.iterdir()}


def post(client, case: Hostile):
    return client.post(
        "/api/v1/uploads", files={"file": (case.filename, case.content, case.content_type)}, data=case.form
    )


def check_answer(case: Hostile, response, before, after) -> str | None:
    """What is wrong with the API's answer to ``case``, if anything."""
    if response.status_code != case.status:
        return f"{case.name}: {response.status_code} (expected {case.status}): {response.text[:300]}"
    body = response.json()
    if case.status >= 400:
        if set(body) != ERROR_KEYS or body["error"] != case.error or not isinstance(body["problems"], list):
            return f"{case.name}: body {body!r:.300}"
        if len(response.content) > 64 * 1024 or len(body["problems"]) > 100:
            return f"{case.name}: a {len(response.content)}-byte answer echoes the upload"
        if after != before:
            return f"{case.name}: rejected, but stored {after[0] - before[0]} uploads, files {after[1] - before[1]}"
    elif after[0] != before[0] + 1 or not any(name.endswith(".parquet") for name in after[1]):
        return f"{case.name}: accepted, but the uploads row or its landed file is missing"
    return None


def test_api_answers_every_hostile_file(client, engine, store, settings, default_period):
    problems: list[str] = []
    accepted: dict[str, str] = {}
    for case in CASES:
        before = stored(engine, settings)
        response = post(client, case)
        problem = check_answer(case, response, before, stored(engine, settings))
        if problem:
            problems.append(problem)
        elif case.status == 202:
            accepted[case.name] = response.json()["upload_id"]
        health = client.get("/api/v1/health")
        assert health.status_code == 200, f"the service stopped answering after {case.name}: {health.text}"
    assert not problems, "\n".join(problems)

    # Accepted files reach the table verbatim: quotes, semicolons, COPY's markers and formulas are data.
    for upload_id in accepted.values():
        apply_upload(engine, store, upload_id)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(student_records.c.user_id)).scalars())
        assert conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() == len(accepted)
    missing = {c.name: sorted(set(c.ids) - ids) for c in CASES if c.name in accepted and set(c.ids) - ids}
    assert not missing, f"ids not stored verbatim: {missing}"

    # The client's file name is never a path: only content-addressed files in the landing store.
    assert not Path("/tmp/passcompass_evil.csv").exists()
    assert all(len(p.stem) == 64 and p.suffix == ".parquet" for p in settings.landing_dir.iterdir())


def test_nul_in_the_url_is_422(client):
    for url in ("/api/v1/reports/latest?course_id=%00", "/api/v1/uploads/a%00b", "/api/v1/reports?course_id=c%00"):
        response = client.get(url)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request", url
    assert client.get("/api/v1/health").status_code == 200


def test_declared_2gb_body_is_refused_before_it_is_read(client, engine, settings):
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nuser_id,course_id\ns,c\n'
    before = stored(engine, settings)
    response = client.post(
        "/api/v1/uploads",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(2 * 1024**3)},
    )
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert stored(engine, settings) == before


def test_streamed_body_past_the_limit_is_refused(client, engine, settings):
    """No Content-Length (chunked): the body is counted as it arrives and refused once past the limit."""
    client.app.state.settings = settings.model_copy(update={"max_upload_bytes": 1024 * 1024})
    start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nuser_id,course_id\n'
    chunks = iter([start, *[b"s,c\n" * 65536] * 16, b"\r\n--b--\r\n"])  # 4 MB
    before = stored(engine, settings)
    response = client.post(
        "/api/v1/uploads", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert stored(engine, settings) == before


def _read_answer(sock: socket.socket) -> str:
    """One HTTP answer: the head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1)) if b"ength" in head else 0
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def _answer_while_sending(port: int, head: bytes, body_chunks: int, chunk: bytes) -> tuple[str, int]:
    """Send ``head`` then up to ``body_chunks`` chunks, stopping at the first answer: (answer, chunks sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for sent in range(body_chunks):
            if select.select([sock], [], [], 0)[0]:
                return _read_answer(sock), sent
            try:
                sock.sendall(chunk)
            except OSError:  # the server answered and closed while we were still sending
                break
        return _read_answer(sock), body_chunks


def test_oversized_bodies_over_a_real_socket(tmp_path):
    """Against ``passcompass serve``: a declared 2 GB body and an endless chunked one are answered 413 after a few
    of their bytes, and the server keeps serving. Without a credential, neither is read at all (401)."""
    with ApiServer(tmp_path / "home") as server:
        token = admin_token(f"sqlite:///{tmp_path / 'home' / 'passcompass.db'}")
        multipart = f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        start = "POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        anonymous = f"{start}Content-Length: {2 * 1024**3}\r\n\r\n"
        answer, sent = _answer_while_sending(server.port, anonymous.encode(), 1000, b"x" * 65536)
        assert answer.startswith("HTTP/1.1 401") and sent < 1000, (answer[:300], sent)
        declared = f"{start}{multipart}Content-Length: {2 * 1024**3}\r\n\r\n"
        answer, sent = _answer_while_sending(server.port, declared.encode() + b"--b\r\n", 1000, b"x" * 65536)
        assert answer.startswith("HTTP/1.1 413") and sent < 1000, (answer[:300], sent)
        assert json.loads(answer.split("\r\n\r\n", 1)[1])["error"] == "too_large"

        chunked = f"{start}{multipart}Transfer-Encoding: chunked\r\n\r\n"
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nuser_id,course_id\n'
        data = b"s,c\n" * 16384
        head = chunked.encode() + b"%x\r\n%s\r\n" % (len(part), part)
        answer, sent = _answer_while_sending(server.port, head, 2000, b"%x\r\n%s\r\n" % (len(data), data))
        assert answer.startswith("HTTP/1.1 413") and sent < 2000, (answer[:300], sent)  # 2000 chunks = 128 MB
        assert httpx.get(f"{server.url}/api/v1/health", timeout=10).status_code == 200


HOSTILE_NAMES = ("-rf ;rm -rf ~.csv", "ünï cödé.csv", "new\nline.csv", "..csv")


def test_inbox_answers_every_hostile_file(engine, settings, default_period):
    inbox = settings.inbox_dir
    cases = [c for c in CASES if not c.api_only]
    for case in cases:
        (inbox / f"{case.name}.csv").write_bytes(case.content)
    for number, name in enumerate(HOSTILE_NAMES):
        (inbox / name).write_bytes(f"user_id,course_id\nname-{number},c\n".encode())
    with (inbox / "sparse_2gb.csv").open("wb") as sparse:  # 2 GB by its size, nothing on disk
        sparse.truncate(2 * 1024**3)

    started = time.monotonic()
    with dg.instance_for_test() as instance:
        inbox_sensor(dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()}))
    assert time.monotonic() - started < 120

    rejected = inbox / "rejected"
    problems = []
    for name, status, error in [
        *((f"{c.name}.csv", c.status, c.error) for c in cases),
        *((n, 202, None) for n in HOSTILE_NAMES),
        ("sparse_2gb.csv", 413, "too_large"),
    ]:
        if (inbox / name).exists():
            problems.append(f"{name!r} left in the inbox")
        elif (rejected / name).exists():
            problems.append(f"{name!r} kept in rejected/: it may hold personal data")
        elif status == 202 and (rejected / f"{name}.error.json").exists():
            problems.append(f"{name!r} rejected: {(rejected / f'{name}.error.json').read_text()[:300]}")
        elif status != 202:
            report = rejected / f"{name}.error.json"
            answer = json.loads(report.read_text()) if report.exists() else {}
            if answer.get("error") != error or set(answer) != ERROR_KEYS:
                problems.append(f"{name!r}: expected {error}, got {answer!r:.300}")
    assert not problems, "\n".join(problems)
    accepted = sum(c.status == 202 for c in cases) + len(HOSTILE_NAMES)
    count, landed = stored(engine, settings)
    assert count == accepted and 0 < len(landed) <= accepted


def test_corpus_folder_matches_the_generator(tmp_path):
    """``tests/hostile/files`` is what ``corpus.py`` writes (regenerate it with ``python tests/hostile/corpus.py``)."""
    write_files(tmp_path)
    expected = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in FILES.iterdir()}
    assert committed == expected


def test_hostile_json_to_predict_is_refused_in_the_error_shape(client):
    """JSON rows are bounded: nesting past a list of objects of values, numbers of hundreds of digits, text that is
    not storable; each a 4xx in the error shape that echoes nothing (they were plain 500s: RecursionError,
    ValueError, UnicodeEncodeError)."""
    row = '{"user_id": "s1", "course_id": "math", "age": %s}'
    bodies = {
        "unclosed nesting": ("[" * 100_000, 400, "too_deep"),
        "deep nesting": ("[" * 60 + "]" * 60, 400, "too_deep"),
        "deep inside a row": ("[" + row % ("[" * 50 + "]" * 50) + "]", 400, "too_deep"),
        "5,000-digit integer": ("[" + row % ("9" * 5000) + "]", 422, "invalid_rows"),
        "5,000-digit decimal": ("[" + row % ("9" * 5000 + ".5") + "]", 422, "invalid_rows"),
        "lone surrogate": ('[{"user_id": "\\ud800", "course_id": "math"}]', 422, "invalid_rows"),
        "NUL in a key": ('[{"user_id": "s1", "course_id": "math", "a\\u0000": 1}]', 422, "invalid_rows"),
    }
    for name, (body, status, error) in bodies.items():
        answer = client.post("/api/v1/predict", content=body.encode(), headers={"Content-Type": "application/json"})
        assert answer.status_code == status, (name, answer.status_code, answer.text[:200])
        assert set(answer.json()) == ERROR_KEYS and answer.json()["error"] == error, name
        assert len(answer.content) < 1000 and "999" not in answer.text, name
    # Brackets and braces inside text are data, not nesting; an ordinary body still reaches the model.
    text = '[{"user_id": "' + "[{" * 100 + '", "course_id": "math", "age": 17}]'
    answer = client.post("/api/v1/predict", content=text.encode(), headers={"Content-Type": "application/json"})
    assert answer.status_code in (409, 422) and answer.json()["error"] != "too_deep", answer.text[:200]
    assert client.get("/api/v1/health").status_code == 200
