"""A whole term, end to end, on SQLite and PostgreSQL: history and a first model; weekly snapshots; a report on
each cadence date; actions recorded on the flagged students; final grades; evaluation with lead time and "did help
help"; retraining through champion/challenger; drift; alerts received by a local webhook."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import dagster as dg
import pytest
from mlflow import MlflowClient

from passcompass_assets.core.cadence import report_dates
from passcompass_assets.core.datasets.demo import demo_periods, final_grades_for, make_snapshot_csv
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.tracking import CHAMPION, REGISTERED_MODEL
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.store import list_reports
from passcompass_assets.core.settings import Settings
from passcompass_assets.monitoring import final_grades_sensor
from passcompass_assets.operations import evaluate, process_pending, report, train
from passcompass_assets.resources import PlatformResource

TODAY = date(2026, 3, 11)
STUDENTS = 300
COURSES = ("demo-algebra", "demo-history")  # reported on; the other demo courses are ingested only


@pytest.mark.slow
def test_whole_term(settings, engine, store, client, dagster_home, webhook, monkeypatch):
    (host, port), alerts = webhook
    monkeypatch.setenv("PASSCOMPASS_ALERT_WEBHOOK_URL", f"http://{host}:{port}/hook")
    monkeypatch.setenv("PASSCOMPASS_INITIAL_DATA", "none")  # learn from the platform's own history only
    settings = Settings()
    past, current = demo_periods(TODAY)
    for period in (past, current):
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))

    def upload(content: bytes, kind: str = "students") -> None:
        receive_upload(engine, store, content, kind=kind)  # type: ignore[arg-type]
        assert all(u.status == "processed" for u in process_pending(settings))

    instance = dg.DagsterInstance.get()
    sensor = dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()})

    # History: last term's final snapshot and its final grades; the sensor asks for a first model.
    upload(make_snapshot_csv(past.period_id, past.end_date, today=TODAY, students=STUDENTS))
    upload(final_grades_for(past.period_id, today=TODAY, students=STUDENTS), "final_grades")
    # The sensor asks for a first model, once final grades have been quiet for a while (60 s by default).
    assert not final_grades_sensor(sensor).run_requests
    monkeypatch.setenv("PASSCOMPASS_RETRAIN_QUIET_SECONDS", "0")
    assert [r.job_name for r in final_grades_sensor(sensor).run_requests] == ["train_model"]  # no report yet
    assert train(settings).success
    assert not final_grades_sensor(sensor).run_requests  # the training recorded the grades it saw

    # The term: a snapshot each cadence date, and a report per course from what is known then.
    schedule = report_dates(Period(current.period_id, current.start_date, current.end_date, current.cadence_weeks))
    assert len(schedule) == 5  # weeks 3, 6, 9, 12 and the last day of a 13-week term
    contacted: set[str] = set()
    for number, day in enumerate(schedule):
        upload(make_snapshot_csv(current.period_id, day, today=TODAY, students=STUDENTS))
        for course_id in COURSES:
            row = report(settings, course_id, current.period_id, day)
            assert row.report_date == day and row.model_version == "1" and row.confidence == "normal"
            # Report N is the term's N-th report date, in the README's weeks 3, 6, 9, 12 and the last week.
            assert (row.report_number, row.week_of_term) == (number + 1, [3, 6, 9, 12, 13][number])
        if number < 2:  # staff act on the first two reports' high-risk students of the first course
            rows = json.loads(list_reports(engine, COURSES[0])[0].file(settings.reports_dir, "json").read_text())
            flagged = [r["user_id"] for r in rows["rows"] if r["risk_band"] == "high"]
            for user_id in sorted(set(flagged) - contacted):
                kind = "contacted" if len(contacted) % 8 else "not_useful"
                body = {"course_id": COURSES[0], "period_id": current.period_id, "user_id": user_id, "kind": kind}
                assert client.post("/api/v1/actions", json=body).status_code == 201
                contacted.add(user_id)
    assert contacted
    # Asking again for a date replaces its report (same id and number): one report per course and date.
    before = {r.report_date: r for r in list_reports(engine, COURSES[0], current.period_id)}
    again = report(settings, COURSES[0], current.period_id, schedule[1])
    assert (again.report_id, again.report_number) == (before[schedule[1]].report_id, 2)
    after = list_reports(engine, COURSES[0], current.period_id)
    assert sorted(r.report_date for r in after) == schedule and sorted(r.report_number for r in after) == [
        1,
        2,
        3,
        4,
        5,
    ]
    second = json.loads(again.file(settings.reports_dir, "json").read_text())
    assert second["summary"].startswith(
        f"{second['students']} students, {second['band_counts']['high']} at high risk, "
    )
    assert second["summary"].endswith(f"{second['new_high']} new since the last report") and second["new_high"] >= 0
    page = client.get(f"/courses/{COURSES[0]}", params={"period_id": current.period_id})
    assert page.status_code == 200 and "5 reports this term." in page.text  # the trajectories have five points
    assert "contacted · " in page.text or "flag not useful · " in page.text
    first = json.loads(list_reports(engine, COURSES[0])[-1].file(settings.reports_dir, "json").read_text())
    assert first["signals"] == {"no interim grade yet": first["students"]}
    last = json.loads(list_reports(engine, COURSES[0])[0].file(settings.reports_dir, "json").read_text())
    assert set(last["signals"]) <= {"both interim grades", "first interim grade"}
    assert last["drift"]["columns"] > 0
    assert (settings.reports_dir / "drift").glob("*.html")

    # The end: final grades arrive; the sensor asks for evaluations and a retraining, which run.
    upload(final_grades_for(current.period_id, today=TODAY, students=STUDENTS), "final_grades")
    requests = final_grades_sensor(sensor).run_requests
    evaluations = sorted(str(r.partition_key) for r in requests if r.job_name == "report_evaluation_job")
    assert evaluations == [f"{c}|{current.period_id}" for c in COURSES]
    assert [r.job_name for r in requests if r.job_name == "train_model"] == ["train_model"]
    for key in evaluations:
        course_id, period_id = key.split("|")
        assert evaluate(settings, course_id, period_id).success
    assert train(settings).success
    assert not final_grades_sensor(sensor).run_requests  # evaluations and training are caught up

    params = {"course_id": COURSES[0], "period_id": current.period_id}
    evaluation = client.get("/api/v1/evaluations", params=params).json()
    html = client.get("/api/v1/evaluations", params={**params, "format": "html"})
    assert html.status_code == 200 and "<svg" in html.text and html.headers["content-disposition"].startswith("inline")
    assert "None" not in html.text, html.text[html.text.find("None") - 300 : html.text.find("None") + 50]
    assert not re.search(r"\d{4}-\d\d-\d\d", html.text.split("<body>")[1])
    missing = client.get("/api/v1/evaluations", params={**params, "course_id": "demo-biology"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    reports = evaluation["reports"]
    assert [r["report_date"] for r in reports] == [d.isoformat() for d in schedule]  # each date once
    assert [(r["report_number"], r["week_of_term"]) for r in reports] == [(1, 3), (2, 6), (3, 9), (4, 12), (5, 13)]
    assert all(r["roc_auc"] > 0.6 for r in reports)
    assert reports[-1]["roc_auc"] >= reports[0]["roc_auc"]  # more is known later in the term
    helped = evaluation["help"]  # did help help: the actions beside the outcomes, descriptive only
    kinds = {k["group"]: k for k in helped["kinds"]}
    assert "not causal" in helped["note"] and helped["flagged_with_action"] == len(contacted)
    assert kinds["contacted"]["students"] + kinds["not_useful"]["students"] == len(contacted)
    for group in [*kinds.values(), helped["without_action"]]:
        assert group["reported"] == (group["students"] >= helped["min_group"])
        assert (group["failure_rate"] is not None) == group["reported"]
    assert helped["flag_feedback"]["marked_not_useful"] == kinds["not_useful"]["students"] > 0
    assert 'id="did-help-help"' in html.text and "descriptive, not causal" in html.text
    print(
        "\ndid help help (descriptive): "
        + "; ".join(
            f"{g['label']}: {g['students']} students"
            + (
                f", failure rate {g['failure_rate']}, median {g['median_days_after_first_flag']} days"
                if g["reported"]
                else ""
            )
            for g in [*helped["kinds"], helped["without_action"]]
            if g["students"]
        )  # fmt: skip
    )
    lead = evaluation["lead_time"]
    assert lead["failed_students"] > 0 and lead["flagged_before_end"] > 0
    assert lead["median_weeks_before_end"] > 0
    print(
        f"\ndemo term evaluation ({COURSES[0]}): recall of failing students at the first report "
        f"{reports[0]['high_risk_recall']}, at the last {reports[-1]['high_risk_recall']}; "
        f"{lead['flagged_before_end']} of {lead['failed_students']} flagged, median "
        f"{lead['median_weeks_before_end']} weeks before the end"
    )

    # MLflow: the challenger was compared with the champion and the decision recorded on its version.
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    challenger = client.get_model_version(REGISTERED_MODEL, "2")
    assert challenger.tags["gate.decision"] in {"promoted", "rejected"}
    assert "champion" in challenger.tags["gate.reason"]
    champion = str(client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version)
    assert champion == ("2" if challenger.tags["gate.decision"] == "promoted" else "1")

    # Alerts reached the webhook: each gate decision and each evaluation, with ids only.
    events = [a["event"] for a in alerts]
    assert events.count("quality_gate") == 2 and events.count("evaluation") == 2
    assert all(a["text"].startswith("PassCompass: ") for a in alerts)
    assert not any(str(u) in json.dumps(alerts) for u in ("S00001", "S00002"))
    assert current.end_date - schedule[0] == timedelta(weeks=10, days=-1)
