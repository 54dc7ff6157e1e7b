"""The dbt models on SQLite and PostgreSQL: uploads in, ``dbt build``, record_history and training_set out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import AssetCheckSeverity, AssetKey, materialize

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.courses import set_course
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.marts import read_table
from passcompass_assets.core.ml.features import fail_label
from passcompass_assets.core.settings import Settings
from passcompass_assets.features import dbt_feature_assets, dbt_resource
from passcompass_assets.features.dbt_project import DbtBuildFailed, dbt_env, run_dbt_build
from passcompass_assets.resources import PlatformResource

# c1 on the default 0-20 scale (pass at 10); s1 two interim grades, s2 one, s3 none, s4 none and no final grade.
STUDENTS_C1 = b"""user_id,course_id,as_of_date,age,famsup,Medu,G1,G2,absences
s1,c1,2024-10-01,17,yes,4,12,14,2
s2,c1,2024-10-01,18,no,2,8,,10
s3,c1,2024-10-01,19,,,,,0
s4,c1,2024-10-01,17,yes,1,,,
"""
# c2 on a 0-100 scale (pass at 50), uploaded as its own course.
STUDENTS_C2 = b"user_id,course_id,G1\ns1,c2,40\n"
# s1 passes c1, s2 and s3 fail it, s1 fails c2; x9 never had a student row (a warning, not an error).
FINAL_GRADES = b"user_id,course_id,G3\ns1,c1,15\ns2,c1,9.5\ns3,c1,4\ns1,c2,45\nx9,c1,12\n"


def _load(engine: sa.Engine, store: LandingStore, content: bytes, kind: str = "students", **scale: float) -> None:
    receipt = receive_upload(engine, store, content, kind=kind)  # type: ignore[arg-type]
    apply_upload(engine, store, receipt.upload_id, **scale)


@pytest.fixture
def loaded(engine: sa.Engine, store: LandingStore, default_period: str) -> sa.Engine:
    _load(engine, store, STUDENTS_C1)
    set_course(engine, "c2", "default", 100.0, 50.0)  # before its grades arrive: 40 is above the default 0-20
    _load(engine, store, STUDENTS_C2)
    _load(engine, store, FINAL_GRADES, kind="final_grades")
    return engine


def test_build_record_history_and_training_set(settings: Settings, loaded: sa.Engine) -> None:
    run_dbt_build(settings)  # raises when a model errors or an error-severity dbt test fails

    features = read_table(loaded, "record_history").set_index(["user_id", "course_id"]).sort_index()
    assert len(features) == 5
    assert "final_grade" not in features.columns and "failed" not in features.columns
    assert {c.name for c in load_catalog().stored_features} <= set(features.columns)
    # A typed join: the model's derived inputs (stage, grade margins, trend) are made in Python, not here.
    assert not {"stage", "interim_grade_1_fraction", "has_interim_grade_1"} & set(features.columns)
    assert features.loc[("s1", "c2"), ["grade_max", "pass_mark"]].tolist() == [100.0, 50.0]
    # Booleans as 0/1 on both dialects, unknown stays unknown; the same dtypes on both.
    assert features["family_support"].fillna(-1).tolist() == [1, -1, 0, -1, 1]
    assert features["interim_grade_1"].dtype.kind == "f" and features["sex"].dtype == object
    assert features["as_of_date"].dtype.kind == "M" and features["age"].dtype.kind == "f"

    training = read_table(loaded, "training_set").set_index(["user_id", "course_id"]).sort_index()
    assert training.index.tolist() == [("s1", "c1"), ("s1", "c2"), ("s2", "c1"), ("s3", "c1")]
    assert training["final_grade"].tolist() == [15.0, 45.0, 9.5, 4.0]
    assert fail_label(training).tolist() == [0, 1, 1, 1]
    # The history of labelled students: one row per dated version (here one each), with its date and arrival.
    assert set(features.columns) < set(training.columns)
    assert {"valid_from", "source_seq"} <= set(training.columns)


# The SQL of every test already runs on both dialects above; that a failing one fails the build needs one.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_failing_dbt_test_fails_the_build(
    settings: Settings, engine: sa.Engine, store: LandingStore, default_period
) -> None:
    # A pass mark above the top of the scale breaks stg_courses' value_between test (error severity).
    _load(engine, store, b"user_id,course_id,G1\ns1,c2,5\n", grade_max=10.0, pass_mark=20.0)
    with pytest.raises(DbtBuildFailed, match="value_between_stg_courses_pass_fraction"):
        run_dbt_build(settings)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dagster_materializes_dbt_assets(
    settings: Settings, engine: sa.Engine, store: LandingStore, default_period
) -> None:
    _load(engine, store, STUDENTS_C1)
    # x9 has a grade and no student row: has_match_in warns, the build goes on.
    _load(engine, store, b"user_id,course_id,G3\ns1,c1,15\ns2,c1,9\nx9,c1,12\n", kind="final_grades")

    result = materialize([dbt_feature_assets], resources={"dbt": dbt_resource(), "platform": PlatformResource()})

    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert {AssetKey("record_history"), AssetKey("training_set")} <= materialized
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(dbt_feature_assets.check_keys)
    failed = [c for c in checks if not c.passed]
    assert [c.check_name.split("_user_id")[0] for c in failed] == ["has_match_in_stg_final_grades"]
    assert (
        failed[0].severity == AssetCheckSeverity.WARN and failed[0].metadata["dagster_dbt/failed_row_count"].value == 1
    )
    assert fail_label(read_table(engine, "training_set")).tolist() == [0, 1]


def test_lineage_and_checks() -> None:
    deps = dbt_feature_assets.asset_deps
    assert deps[AssetKey("stg_student_records")] == {AssetKey("student_records")}
    assert deps[AssetKey("stg_courses")] == {AssetKey("student_records")}
    assert deps[AssetKey("stg_final_grades")] == {AssetKey("final_grades")}
    assert set(dbt_feature_assets.group_names_by_key.values()) == {"features"}
    assert any(key.name.startswith("has_match_in_stg_final_grades") for key in dbt_feature_assets.check_keys)


def test_dbt_env_from_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = dbt_env(Settings(home=tmp_path, database_url="sqlite:///rel/pc.db"))
    assert env["PASSCOMPASS_DBT_TARGET"] == "sqlite"
    assert env["PASSCOMPASS_DBT_SQLITE_PATH"] == str(tmp_path.resolve() / "rel" / "pc.db")

    pg_url = "postgresql+psycopg2://pc:s3cr%40t@db.example:6543/passcompass?sslmode=require"
    env = dbt_env(Settings(home=tmp_path, database_url=pg_url))
    assert json.loads(env.pop("PASSCOMPASS_DBT_CATALOG"))[0] == {
        "name": "school",
        "type": "category",
        "known_from": "start",
    }
    assert env == {
        "DBT_TARGET_PATH": str(tmp_path.resolve() / "dbt" / "target"),
        "DBT_LOG_PATH": str(tmp_path.resolve() / "dbt" / "logs"),
        "PASSCOMPASS_DBT_TARGET": "postgres",
        "PASSCOMPASS_DBT_PG_HOST": "db.example",
        "PASSCOMPASS_DBT_PG_PORT": "6543",
        "PASSCOMPASS_DBT_PG_USER": "pc",
        "DBT_ENV_SECRET_PASSCOMPASS_PG_PASSWORD": "s3cr@t",
        "PASSCOMPASS_DBT_PG_DBNAME": "passcompass",
        "PASSCOMPASS_DBT_PG_SCHEMA": "analytics",
        "PASSCOMPASS_DBT_PG_SOURCE_SCHEMA": "public",
        "PASSCOMPASS_DBT_PG_SSLMODE": "require",
    }
    for url in ("sqlite://", "mysql://u@h/db"):
        with pytest.raises(ValueError):
            dbt_env(Settings(database_url=url))
