"""The ``passcompass`` command: run the platform, serve the API, ingest, train, report, migrate.

Heavy imports (Dagster, MLflow, uvicorn) happen inside the subcommand that needs them, so each starts quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from passcompass_assets.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def cmd_process_pending(settings: Settings, _: argparse.Namespace) -> int:
    from passcompass_assets.operations import process_pending

    results = process_pending(settings)
    for result in results:
        print(json.dumps(result))
    failed = sum(r["status"] == "failed" for r in results)
    print(f"{len(results)} upload(s) processed, {failed} failed")
    return 1 if failed else 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """Train on UCI-format data in ``--data`` or on the platform's training set; print the gate decision."""
    from passcompass_assets.core.ml import train_and_gate
    from passcompass_assets.core.uci import load_uci_dir
    from passcompass_assets.operations import prepare_home

    prepare_home(settings)
    if args.data:
        frame = load_uci_dir(Path(args.data))
    else:
        from passcompass_assets.core.db import get_engine
        from passcompass_assets.core.training_data import (
            combined_training_frame,
            initial_data_or_empty,
            platform_training_frame,
        )
        from passcompass_assets.features.dbt_project import run_dbt_build

        run_dbt_build(settings)
        initial, unavailable = initial_data_or_empty(settings)
        if unavailable:
            print(f"initial data unavailable ({unavailable}); training on the labelled periods only", file=sys.stderr)
        frame = combined_training_frame(initial, platform_training_frame(get_engine(settings.db_url)))
    if frame.empty:
        print("nothing to train on: no initial data and no labelled period", file=sys.stderr)
        return 2
    outcome = train_and_gate(frame, settings, n_repeats=args.repeats)
    if args.json:
        print(json.dumps(outcome.as_json()))
    else:
        decision = "PROMOTED" if outcome.promoted else "NOT PROMOTED"
        print(f"model version {outcome.model_version}: {decision}: {outcome.reason}")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Generate one course report now, in process, through the job the schedule launches."""
    from passcompass_assets.operations import report

    as_of = date.fromisoformat(args.as_of) if args.as_of else None
    try:
        row = report(settings, args.course_id, args.period_id, as_of)
    except (LookupError, RuntimeError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    summary = {k: getattr(row, k) for k in ("report_id", "course_id", "period_id", "band_counts", "confidence")}
    print(json.dumps({**summary, "report_date": row.report_date.isoformat(), "model_version": row.model_version}))
    return 0


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from passcompass_assets.operations import bootstrap_demo, load_demo, prepare_home

    prepare_home(settings)
    today = date.fromisoformat(args.today) if args.today else None
    if args.bootstrap:
        bootstrap_demo(settings, today)
    else:
        print(f"demo terms registered: {load_demo(settings, today)} uploads received")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Dagster webserver + daemon (``dagster dev``) and the API, until Ctrl-C stops both."""
    from passcompass_assets.operations import bootstrap_demo, has_uploads, prepare_home

    prepare_home(settings)
    if not args.no_demo and not has_uploads(settings):
        print("fresh home: bootstrapping the synthetic demo terms (a few minutes; --no-demo skips this)")
        bootstrap_demo(settings)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PASSCOMPASS_HOME": str(settings.resolved_home)}
    dagster = [str(bin_dir / "dagster"), "dev", "-m", "passcompass_assets.definitions", "-h", args.host, "-p", "3000"]
    api = [str(bin_dir / "passcompass"), "serve", "--host", args.host, "--port", "8000"]
    processes = [subprocess.Popen(command, env=env, cwd=REPO_ROOT) for command in (dagster, api)]
    print(f"PassCompass: Dagster UI http://{args.host}:3000  web page and API http://{args.host}:8000  (Ctrl-C stops)")
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

    run = commands.add_parser("run", help="run Dagster (UI on :3000, daemon) and the API and web page (:8000)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--no-demo", action="store_true", help="do not bootstrap the demo terms into an empty platform")
    run.set_defaults(handler=cmd_run)

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

    demo = commands.add_parser("demo-data", help="generate and upload the synthetic demo terms")
    demo.add_argument("--today", help="pretend today is this date (YYYY-MM-DD)")
    demo.add_argument("--bootstrap", action="store_true", help="also ingest, train and report (as `run` does)")
    demo.set_defaults(handler=cmd_demo_data)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(Settings(), args))


if __name__ == "__main__":
    sys.exit(main())
