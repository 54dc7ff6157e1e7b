"""The institution's own indicators, courses and grade scales (SQLite and PostgreSQL): the effective catalog and its
upload template, course scales set and enforced, withdrawals leaving later reports, on-demand prediction that
stores nothing, sensitive attributes out of the model; and a deployment catalog end to end, in processes of its own
(the catalog is a process's configuration)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from passcompass_assets.core.catalog import CatalogError, read_catalog
from passcompass_assets.core.datasets.demo import demo_periods, final_grades_for, make_snapshot_csv
from passcompass_assets.core.db.tables import record_versions, student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.ml.training import train_and_gate
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.service import generate_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
from benchmarks._common import ApiServer  # noqa: E402

EXAMPLE_CATALOG = ROOT / "docs" / "catalog.example.yaml"
BIN = Path(sys.executable).parent


def test_the_catalog_and_its_upload_template(client) -> None:
    catalog = client.get("/api/v1/catalog").json()
    by_name = {c["name"]: c for c in catalog["columns"]}
    assert by_name["sex"]["use"] == "audit" and by_name["health"]["use"] == "audit"
    assert by_name["absences"]["use"] == "feature" and by_name["absences"]["accumulates"]
    assert by_name["enrolment_status"]["categories"] == ["active", "withdrawn"]
    groups = [c["group"] for c in catalog["columns"]]
    assert groups == sorted(groups, key=catalog["groups"].index)  # a university's groups first
    assert by_name["attendance_rate"]["group"] == "attendance and engagement"
    assert by_name["sex"]["group"] == "background kept for audits"
    assert by_name["workday_alcohol"]["group"] == by_name["school"]["group"] == "other known columns"
    template = client.get("/api/v1/catalog", params={"format": "csv"})
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    [header] = list(csv.reader(io.StringIO(template.content.decode("utf-8-sig"))))
    assert header[:3] == ["user_id", "course_id", "period_id"] and "final_grade" not in header
    assert {"attendance_rate", "quiz_average", "sex"} <= set(header)
    assert not {"school", "workday_alcohol", "in_relationship", "attended_nursery"} & set(header)
    every = client.get("/api/v1/catalog", params={"format": "csv", "columns": "all"}).content.decode("utf-8-sig")
    assert every.splitlines()[0].startswith(",".join(header)) and "workday_alcohol" in every
    assert client.get("/api/v1/catalog", params={"format": "xml"}).status_code == 422


def test_the_template_uploads_as_it_is(client, default_period) -> None:
    """The template with one student added below its header is an upload."""
    template = client.get("/api/v1/catalog", params={"format": "csv"}).content
    header = template.decode("utf-8-sig").splitlines()[0].split(",")
    row = ["stu-1" if n == "user_id" else "bio-101" if n == "course_id" else "" for n in header]
    answer = client.post("/api/v1/uploads", files={"file": ("t.csv", template + ",".join(row).encode() + b"\r\n")})
    assert answer.status_code == 202, answer.text
    assert answer.json()["dropped_columns"] == []


def test_course_scales_are_set_listed_and_enforced(client, engine, store, default_period) -> None:
    first = client.post("/api/v1/uploads", files={"file": ("a.csv", b"user_id,course_id,G1\ns1,bio,12\n")})
    assert first.status_code == 202
    assert first.json()["columns"] == ["user_id", "course_id", "period_id", "interim_grade_1"]
    apply_upload(engine, store, first.json()["upload_id"])  # a course is registered when its first upload applies
    [course] = client.get("/api/v1/courses").json()
    assert (course["course_id"], course["grade_max"], course["status"]) == ("bio", 20.0, "unconfirmed")

    # On 0-20 a grade of 45 is refused, with its row and column (never its value).
    late = client.post(
        "/api/v1/final-grades", files={"file": ("g.csv", b"user_id,course_id,G3\ns1,bio,45\ns2,bio,9\n")}
    )
    assert late.status_code == 422, late.text
    assert late.json()["problems"] == [
        {
            "row": 2,
            "column": "G3",
            "message": "G3 above 20, the scale of course bio; set the course's scale on its page or with "
            "PUT /api/v1/courses/bio",
        }
    ]
    body = {"period_id": "default", "grade_max": 100, "pass_mark": 50, "title": "Cell biology"}
    set_scale = client.put("/api/v1/courses/bio", json=body)
    assert set_scale.status_code == 200 and set_scale.json()["status"] == "confirmed"
    assert (
        client.post("/api/v1/final-grades", files={"file": ("g.csv", b"user_id,course_id,G3\ns1,bio,45\n")}).status_code
        == 202
    )
    assert client.put("/api/v1/courses/bio", json={**body, "pass_mark": 150}).status_code == 422
    created = client.put("/api/v1/courses/chem", json={**body, "title": None})
    assert created.status_code == 201
    assert [c["course_id"] for c in client.get("/api/v1/courses", params={"period_id": "default"}).json()] == [
        "bio",
        "chem",
    ]


def _stub_model() -> object:
    class Model:
        info = ModelInfo(version="1", promoted=True, gate="passed")

        def score(self, frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "fail_probability": 0.5,
                    "predicted_final_grade": 10.0,
                    "top_factors": "",
                    "signals_available": "no interim grade yet",
                },
                index=frame.index,
            )

    return Model()


def test_a_withdrawn_student_leaves_the_reports_made_after_the_withdrawal(engine, store, settings) -> None:
    period = Period("term", date(2026, 9, 7), date(2026, 12, 6), 3)
    upsert_period(engine, period)
    week = b"user_id,course_id,period_id,as_of_date,absences,enrolment_status,withdrawal_date\n"
    snapshot = week + b"s1,c,term,2026-09-20,1,active,\ns2,c,term,2026-09-20,0,active,\n"
    later = week + b"s1,c,term,2026-10-11,4,withdrawn,2026-10-05\ns2,c,term,2026-10-11,1,active,\n"
    for content in (snapshot, later):
        apply_upload(engine, store, receive_upload(engine, store, content).upload_id)
    model = _stub_model()
    early = generate_report(engine, settings, model, "c", "term", date(2026, 9, 28))  # type: ignore[arg-type]
    after = generate_report(engine, settings, model, "c", "term", date(2026, 10, 19))  # type: ignore[arg-type]
    assert (early.students, after.students) == (2, 1)
    assert after.header["data_as_of"] == "2026-10-11" and early.header["data_as_of"] == "2026-09-20"


@pytest.mark.slow
def test_sensitive_attributes_are_stored_but_never_model_inputs(uci_dir, settings) -> None:
    from passcompass_assets.core.datasets.uci import load_uci_dir

    outcome = train_and_gate(load_uci_dir(uci_dir), settings, n_repeats=1)
    assert outcome.model is not None
    used = {c for stage in outcome.model.stages.values() for c in stage.columns}
    assert {"sex", "age", "health", "workday_alcohol", "in_relationship", "mother_job"}.isdisjoint(used)


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (uploads, student_records, record_versions)
        }


def _files(home: Path) -> set[str]:
    """Every file under home but MLflow's own (loading a model writes the registry's metadata beside it)."""
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and "mlartifacts" not in p.parts}


@pytest.mark.slow
def test_predict_stores_nothing_and_ignores_audit_columns(client, engine, settings, uci_dir) -> None:
    from passcompass_assets.core.datasets.uci import load_uci_dir

    assert client.post("/api/v1/predict", json=[{"user_id": "x", "course_id": "c"}]).status_code == 409
    train_and_gate(load_uci_dir(uci_dir), settings, n_repeats=1)
    before, files = _counts(engine), _files(settings.resolved_home)
    row = {"user_id": "p1", "course_id": "math", "age": 17, "G1": 9, "failures": 1, "studytime": 2, "absences": 4}
    answer = client.post("/api/v1/predict", json=[{**row, "sex": "F"}, {**row, "user_id": "p2", "sex": "M"}])
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["rows"]
    assert first["fail_probability"] == second["fail_probability"] and 0 < first["fail_probability"] < 1
    assert first["signals_available"] == "first interim grade" and first["grade_max"] == 20.0
    as_csv = client.post("/api/v1/predict", files={"file": ("p.csv", b"user_id,course_id,G1\np3,math,15\n")})
    assert as_csv.status_code == 200 and as_csv.json()["rows"][0]["row"] == 2
    bad = client.post("/api/v1/predict", json=[{"user_id": "p4", "course_id": "math", "G1": "many"}])
    assert bad.status_code == 422 and bad.json()["problems"][0] == {
        "row": 2,
        "column": "G1",
        "message": "G1 is not a number",
    }
    assert client.post("/api/v1/predict", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert _counts(engine) == before
    assert _files(settings.resolved_home) - files <= {"passcompass.db-wal", "passcompass.db-shm"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("columns: [", "is not valid YAML"),
        ("columns:\n  - {name: lms_clicks, type: integer, min: 0, max: 9}\n  - {name: lms_clicks}\n", "named twice"),
        (
            "columns:\n  - {name: quiz_score, type: number, min: 0, max: 1, aliases: [G1]}\n",
            "alias 'G1' is also a name of interim_grade_1",
        ),
        ("columns:\n  - {name: absences, type: number}\n", "changes the built-in type integer to number"),
        ("columns:\n  - {name: lms_clicks, type: integer}\n", "a number needs min and max"),
        ("columns:\n  - {name: sex, use: sometimes}\n", "use"),
    ],
)
def test_a_bad_catalog_is_refused_naming_file_column_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as refused:
        read_catalog(path)
    assert str(path) in str(refused.value) and problem in str(refused.value)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "passcompass"), *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_deployment_catalog_end_to_end(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/catalog.example.yaml (a university LMS export) through upload, ingestion, training, drift and a report,
    in processes that read it; a column switched to ``ignore`` never reaches storage; a type change of a column
    holding data stops ``db upgrade`` and changes nothing."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PASSCOMPASS_HOME": str(home),
        "PASSCOMPASS_DATABASE_URL": database_url,
        "PASSCOMPASS_CATALOG": str(EXAMPLE_CATALOG),
        "PASSCOMPASS_INITIAL_DATA": "none",
        "DAGSTER_HOME": str(home / "dagster"),
    }
    monkeypatch.setenv("PASSCOMPASS_CATALOG", str(EXAMPLE_CATALOG))  # for the API server's process
    upgraded = _cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    columns = {c["name"] for c in sa.inspect(sa.create_engine(database_url)).get_columns("record_versions")}
    assert {"lms_page_views", "forum_posts", "quiz_score_mean"} <= columns and "going_out" in columns

    # Two demo terms, with the example catalog's columns added (its renamed LMS headers, an ignored column).
    today = date(2026, 3, 11)
    past, current = demo_periods(today)
    rng = pd.Series(range(10_000))

    def with_lms(content: bytes, seed: int) -> bytes:
        frame = pd.read_csv(io.BytesIO(content), dtype=str)
        signal = pd.to_numeric(frame.get("quiz_average"), errors="coerce").fillna(50)
        frame["PageViews"] = (signal * 3 + rng[: len(frame)].to_numpy() % 7).round().astype(int)
        frame["ForumPosts"] = (signal / 10).round().astype(int)
        frame["QuizScoreMean"] = signal.round(1)
        return frame.to_csv(index=False).encode()

    with ApiServer(home, database_url) as api:
        token = subprocess.run(
            [str(BIN / "passcompass"), "token", "create", "--role", "admin"], env=env, capture_output=True, text=True
        ).stdout.split()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        for period in (past, current):
            body = {"start_date": period.start_date.isoformat(), "end_date": period.end_date.isoformat()}
            assert httpx.put(
                f"{api.url}/api/v1/periods/{period.period_id}", json=body, headers=headers
            ).status_code in (200, 201)
        uploads_done = []
        for week in range(3, 14, 3):  # last term's snapshots on its cadence weeks, where the model's stages begin
            day = past.start_date + timedelta(days=7 * week - 1)
            content = with_lms(make_snapshot_csv(past.period_id, day, today=today, students=300), week)
            answer = httpx.post(f"{api.url}/api/v1/uploads", files={"file": ("w.csv", content)}, headers=headers)
            assert answer.status_code == 202, answer.text
            uploads_done.append(answer.json())
        assert "going_out" in uploads_done[0]["dropped_columns"]  # the demo files have it; the catalog ignores it
        assert {"lms_page_views", "forum_posts", "quiz_score_mean"} <= set(uploads_done[0]["columns"])
        grades = final_grades_for(past.period_id, today=today, students=300)
        assert (
            httpx.post(f"{api.url}/api/v1/final-grades", files={"file": ("g.csv", grades)}, headers=headers).status_code
            == 202
        )
        day = current.start_date + timedelta(weeks=3)
        content = with_lms(make_snapshot_csv(current.period_id, day, today=today, students=300), 99)
        assert (
            httpx.post(f"{api.url}/api/v1/uploads", files={"file": ("c.csv", content)}, headers=headers).status_code
            == 202
        )

    assert _cli(env, "process-pending").returncode == 0
    trained = _cli(env, "train", "--json")
    assert trained.returncode == 0, trained.stderr[-3000:]
    from passcompass_assets.core.ml.loader import load_model
    from passcompass_assets.core.settings import Settings

    loaded = load_model(Settings(home=home, database_url=database_url))
    assert loaded is not None
    inputs = {c for stage in loaded.model.stages.values() for c in stage.columns}
    assert {"lms_page_views", "quiz_score_mean"} <= inputs and not {"going_out", "sex"} & inputs
    reported = _cli(
        env, "report", "--course-id", "demo-algebra", "--period-id", current.period_id, "--as-of", day.isoformat()
    )
    assert reported.returncode == 0, reported.stderr[-3000:]
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.count())
            .where(sa.column("going_out").is_not(None))
            .select_from(sa.table("record_versions"))
        ).scalar_one()
        views = conn.execute(
            sa.select(sa.func.count())
            .where(sa.column("lms_page_views").is_not(None))
            .select_from(sa.table("record_versions"))
        ).scalar_one()
    assert stored == 0 and views > 0

    # Changing the type of a column that holds data: refused, naming the file, the column and the problem.
    changed = tmp_path / "changed.yaml"
    document = yaml.safe_load(EXAMPLE_CATALOG.read_text())
    for entry in document["columns"]:
        if entry["name"] == "forum_posts":
            entry.update(type="category", categories={"few": [], "many": []})
            for key in ("min", "max", "accumulates"):
                entry.pop(key)
    changed.write_text(yaml.safe_dump(document))
    refused = _cli({**env, "PASSCOMPASS_CATALOG": str(changed)}, "db", "upgrade")
    assert refused.returncode != 0
    assert str(changed) in refused.stderr and "forum_posts" in refused.stderr and "already holds data" in refused.stderr
