"""The ``passcompass`` command: run the platform, serve the API, process uploads, migrate the database.

Heavy imports (Dagster, uvicorn) happen inside the subcommand that needs them, so each starts quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from passcompass_assets.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def prepare_home(settings: Settings) -> None:
    """Create PASSCOMPASS_HOME with its folders, migrate the database, point Dagster at its instance folder."""
    from passcompass_assets.core.db import with_driver
    from passcompass_assets.core.migrate import upgrade

    settings.ensure_dirs()
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    # On PostgreSQL the Dagster instance lives there too (dagster-postgres), configured by dagster.yaml.
    instance_yaml = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    if settings.db_url.startswith("postgresql") and not instance_yaml.exists():
        os.environ.setdefault("DAGSTER_PG_URL", with_driver(settings.db_url))
        shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", instance_yaml)


def cmd_db_upgrade(settings: Settings, _: argparse.Namespace) -> int:
    from passcompass_assets.core.migrate import upgrade

    settings.ensure_dirs()
    upgrade(settings.db_url)
    print(f"database at head: {settings.db_url.split('@')[-1]}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from passcompass_assets.core.migrate import upgrade

    settings.ensure_dirs()
    upgrade(settings.db_url)
    uvicorn.run("passcompass_api.main:create_app", factory=True, host=args.host, port=args.port)
    return 0


def process_pending(settings: Settings) -> list[dict[str, object]]:
    """Run, in process, the ingestion run the upload sensor would launch for every received upload."""
    import dagster as dg

    from passcompass_assets.core.db import get_engine
    from passcompass_assets.core.uploads import find_upload, pending_uploads
    from passcompass_assets.definitions import defs
    from passcompass_assets.ingestion import uploads_partitions

    prepare_home(settings)
    engine = get_engine(settings.db_url)
    job = defs.resolve_job_def("ingest_upload")
    results = []
    with dg.DagsterInstance.get() as instance:
        for _, upload_id in pending_uploads(engine):
            instance.add_dynamic_partitions(uploads_partitions.name, [upload_id])
            job.execute_in_process(partition_key=upload_id, instance=instance, raise_on_error=False)
            receipt = find_upload(engine, upload_id)
            results.append({"upload_id": upload_id, "status": receipt.status, "error": receipt.error})
    return results


def cmd_process_pending(settings: Settings, _: argparse.Namespace) -> int:
    results = process_pending(settings)
    for result in results:
        print(json.dumps(result))
    print(f"{len(results)} upload(s) processed, {sum(r['status'] == 'failed' for r in results)} failed")
    return 1 if any(r["status"] == "failed" for r in results) else 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """Train on UCI-format data in ``--data`` or on the platform's training set; print the gate decision."""
    import pandas as pd

    from passcompass_assets.core.db import get_engine
    from passcompass_assets.core.ml import train_and_gate
    from passcompass_assets.core.training_data import (
        combined_training_frame,
        initial_data_or_empty,
        platform_training_frame,
    )
    from passcompass_assets.core.uci import load_uci_dir

    prepare_home(settings)
    if args.data:
        frame = load_uci_dir(Path(args.data))
    else:
        from passcompass_assets.features.dbt_project import run_dbt_build

        run_dbt_build(settings)
        initial, unavailable = initial_data_or_empty(settings)
        if unavailable:
            print(f"initial data unavailable ({unavailable}); training on the platform's labelled periods only")
        frame = combined_training_frame(initial, platform_training_frame(get_engine(settings.db_url)))
    if frame.empty:
        print("nothing to train on: no initial data and no labelled period", file=sys.stderr)
        return 2
    outcome = train_and_gate(pd.DataFrame(frame), settings, n_repeats=args.repeats)
    if args.json:
        print(json.dumps(outcome.as_json()))
    else:
        decision = "PROMOTED" if outcome.promoted else "NOT PROMOTED"
        print(f"model version {outcome.model_version}: {decision}: {outcome.reason}")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Generate one course report now, in process, through the same job the schedule launches."""
    import dagster as dg

    from passcompass_assets.core.db import get_engine
    from passcompass_assets.core.periods import active_periods
    from passcompass_assets.core.reporting import course_periods, get_report, list_reports
    from passcompass_assets.definitions import defs
    from passcompass_assets.reporting import ReportKey, report_partitions

    prepare_home(settings)
    engine = get_engine(settings.db_url)
    as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    periods = course_periods(engine, args.course_id)
    if not periods:
        print(f"no data for course {args.course_id!r}", file=sys.stderr)
        return 2
    current = {p.period_id for p in active_periods(engine, as_of)}
    period_id = args.period_id or next((p for p in periods if p in current), periods[-1])
    key = ReportKey(args.course_id, period_id, as_of)
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(report_partitions.name, [key.partition_key])
        result = defs.resolve_job_def("period_report").execute_in_process(
            partition_key=key.partition_key, instance=instance, raise_on_error=False
        )
    if not result.success:
        print(f"report failed for {key.partition_key}", file=sys.stderr)
        return 1
    row = get_report(engine, list_reports(engine, args.course_id, period_id)[0].report_id)
    print(
        json.dumps(
            {
                "report_id": row.report_id,
                "course_id": row.course_id,
                "period_id": row.period_id,
                "report_date": row.report_date.isoformat(),
                "band_counts": row.band_counts,
                "confidence": row.confidence,
                "model_version": row.model_version,
            }
        )
    )
    return 0


def load_demo(settings: Settings, today: date | None = None) -> int:
    """Generate the synthetic demo terms under home and register them like a client would: periods, then
    every snapshot and final-grade file as an upload (the upload sensor, or process-pending, applies them)."""
    from passcompass_assets.core.db import get_engine
    from passcompass_assets.core.demo_data import generate_demo
    from passcompass_assets.core.landing import LandingStore
    from passcompass_assets.core.periods import Period, upsert_period
    from passcompass_assets.core.uploads import receive_upload

    today = today or date.today()
    engine = get_engine(settings.db_url)
    manifest = generate_demo(settings.resolved_home / "demo" / today.isoformat(), today=today)
    for period in manifest.periods:
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
    store = LandingStore(settings.landing_dir)
    for demo_file in manifest.files:
        receive_upload(engine, store, demo_file.path.read_bytes(), kind=demo_file.kind, source="demo")
    return len(manifest.files)


def _has_uploads(settings: Settings) -> bool:
    import sqlalchemy as sa

    from passcompass_assets.core.db import get_engine, uploads

    with get_engine(settings.db_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() > 0


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    prepare_home(settings)
    today = date.fromisoformat(args.today) if args.today else None
    count = load_demo(settings, today)
    print(f"demo terms registered: {count} uploads received")
    if args.process:
        cmd_process_pending(settings, args)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Dagster webserver + daemon (``dagster dev``) and the API, until Ctrl-C stops both."""
    prepare_home(settings)
    if not args.no_demo and not _has_uploads(settings):
        print(f"fresh home: loaded the synthetic demo terms ({load_demo(settings)} uploads)")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PASSCOMPASS_HOME": str(settings.resolved_home)}
    processes = [
        subprocess.Popen(
            [str(bin_dir / "dagster"), "dev", "-m", "passcompass_assets.definitions", "-h", args.host, "-p", "3000"],
            env=env,
            cwd=REPO_ROOT,
        ),
        subprocess.Popen(
            [str(bin_dir / "passcompass"), "serve", "--host", args.host, "--port", "8000"], env=env, cwd=REPO_ROOT
        ),
    ]
    print(f"PassCompass: Dagster UI http://{args.host}:3000  API and web page http://{args.host}:8000  (Ctrl-C stops)")
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="passcompass", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run Dagster (UI on :3000, daemon) and the API (:8000)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--no-demo", action="store_true", help="do not load the demo terms into an empty platform")
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo-data", help="generate and upload the synthetic demo terms")
    demo.add_argument("--today", help="pretend today is this date (YYYY-MM-DD)")
    demo.add_argument("--process", action="store_true", help="also process the uploads in process")
    demo.set_defaults(handler=cmd_demo_data)

    serve = commands.add_parser("serve", help="serve the REST API and web page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=cmd_serve)

    pending = commands.add_parser("process-pending", help="process every received upload in process, then exit")
    pending.set_defaults(handler=cmd_process_pending)

    train = commands.add_parser("train", help="train a model, log it to MLflow and apply the quality gate")
    train.add_argument("--data", help="a folder with the UCI files (student-mat.csv, student-por.csv)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.add_argument("--repeats", type=int, default=2, help="repeats of the stratified K-fold cross-validation")
    train.set_defaults(handler=cmd_train)

    report = commands.add_parser("report", help="generate one course report now")
    report.add_argument("--course-id", required=True)
    report.add_argument("--period-id")
    report.add_argument("--as-of", help="report date (YYYY-MM-DD); default today")
    report.set_defaults(handler=cmd_report)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(Settings(), args))


if __name__ == "__main__":
    sys.exit(main())
