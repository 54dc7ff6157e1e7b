"""The ``passcompass`` command: run the platform, serve the API, ingest, train, report, migrate.

Heavy imports (Dagster, MLflow, uvicorn) happen inside the subcommand that needs them, so each starts quickly.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from passcompass_assets.core.activity import FORMATS
from passcompass_assets.core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

REPO_ROOT = Path(__file__).resolve().parents[1]


def cmd_db_upgrade(settings: Settings, _: argparse.Namespace) -> int:
    from passcompass_assets.core.db.migrate import upgrade

    settings.ensure_dirs()
    upgrade(settings.db_url)
    print(f"database at head: {settings.db_url.split('@')[-1]}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from passcompass_assets.core.db.migrate import ensure_schema

    settings.ensure_dirs()
    ensure_schema(settings.db_url)
    # No uvicorn access log: it would write raw paths and queries (a sign-in link's token, an erased student's id);
    # the API's own request log names the route's template and the principal instead.
    uvicorn.run("passcompass_api.main:create_app", factory=True, host=args.host, port=args.port, access_log=False)
    return 0


def cmd_process_pending(settings: Settings, _: argparse.Namespace) -> int:
    from passcompass_assets.operations import process_pending

    uploads = process_pending(settings)
    for upload in uploads:
        print(json.dumps({"upload_id": upload.upload_id, "status": upload.status, "error": upload.error}))
    failed = sum(upload.status == "failed" for upload in uploads)
    print(f"{len(uploads)} upload(s) processed, {failed} failed")
    return 1 if failed else 0


@contextlib.contextmanager
def _quietly(settings: Settings, doing: str) -> Iterator[TextIO]:
    """Dagster's and the libraries' own output goes to ``home/logs/commands.log``; the command says ``doing`` on the
    terminal it yields (and its result once the block is over: the terminal is the standard output again)."""
    from passcompass_assets import supervisor

    log = settings.resolved_home / "logs" / "commands.log"
    with supervisor.output_to(log) as terminal:
        print(f"{doing} (the full log: {log})", file=terminal, flush=True)
        yield terminal


def _gate_words(model: dict[str, object]) -> list[str]:
    version, reason = model.get("model_version"), str(model.get("reason") or "")
    first = reason.split(". ")[0].removeprefix("promoted: ").removeprefix("not promoted: ")
    if model.get("promoted"):
        said = f"Model version {version} passed the quality gate: reports use it from now on."
    else:
        said = f"Model version {version} did not pass the quality gate: reports keep using the model they had."
    why = "; ".join(part.split(": ")[0] for part in first.split("; "))  # the figures are on the model card
    return [said, f"Why: {why}.", f"Its figures: /api/v1/models/{version}/card"]


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """Run the ``train_model`` job (dbt, then the gate), or train offline on UCI-format files in ``--data``."""
    if args.data:
        return _train_offline(settings, Path(args.data), args)
    from passcompass_assets.operations import train

    with _quietly(settings, "Training: dbt features, the model, its validation and the quality gate"):
        outcome = train(settings)
    model = outcome.metadata.get("fail_risk_model")
    if not outcome.success or not isinstance(model, dict):
        print("The training run failed: see the Dagster UI or the log named above.", file=sys.stderr)
        return 1
    print(json.dumps(model, default=str) if args.json else "\n".join(_gate_words(model)))
    return 0


def _train_offline(settings: Settings, data: Path, args: argparse.Namespace) -> int:
    from passcompass_assets.core.datasets.uci import load_uci_dir
    from passcompass_assets.core.ml.training import train_and_gate
    from passcompass_assets.instance import prepare_home

    prepare_home(settings)
    outcome = train_and_gate(load_uci_dir(data), settings, n_repeats=args.repeats)
    if args.json:
        print(json.dumps(outcome.as_json()))
    else:
        decision = "PROMOTED" if outcome.promoted else "NOT PROMOTED"
        print(f"model version {outcome.model_version}: {decision}: {outcome.reason}")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Generate one course report now, in process, through the job the schedule launches."""
    from passcompass_assets.core.errors import Rejected
    from passcompass_assets.core.ml.wording import day
    from passcompass_assets.operations import report

    as_of = date.fromisoformat(args.as_of) if args.as_of else None
    try:
        with _quietly(settings, f"Making the report of {args.course_id}"):
            record = report(settings, args.course_id, args.period_id, as_of)
    except (Rejected, RuntimeError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    summary = str(record.header.get("summary") or "")
    print(
        f"Report {record.report_number} of {record.course_id} ({record.period_id}), {day(record.report_date)}, "
        f"week {record.week_of_term}: {summary}."
    )
    if record.warning:
        print(record.warning)
    print(f"Read it: /api/v1/reports/{record.report_id}?format=html (report id {record.report_id})")
    return 0


def cmd_evaluate(settings: Settings, args: argparse.Namespace) -> int:
    """Score a course period's reports against its final grades, in process (what the final-grades sensor runs)."""
    from passcompass_assets.operations import evaluate

    with _quietly(settings, f"Evaluating the reports of {args.course_id} ({args.period_id})"):
        outcome = evaluate(settings, args.course_id, args.period_id)
    evaluation = outcome.metadata.get("report_evaluation")
    if not outcome.success or not isinstance(evaluation, dict):
        print("The evaluation failed: are there final grades and reports for it? See the log named above.",
              file=sys.stderr)  # fmt: skip
        return 1
    print(_evaluation_words(evaluation))
    query = f"course_id={args.course_id}&period_id={args.period_id}&format=html"
    print(f"Read it: /api/v1/evaluations?{query}")
    return 0


def _evaluation_words(evaluation: dict[str, object]) -> str:
    def share(key: str) -> str:
        value = evaluation.get(key)
        return f"{value:.0%}" if isinstance(value, float) else "none"

    said = (
        f"{evaluation.get('reports_evaluated')} reports against {evaluation.get('students_with_final_grade')} final "
        f"grades: {share('failure_rate')} of the students did not pass; the reports flagged "
        f"{share('share_of_failing_flagged')} of them high risk"
    )
    weeks = evaluation.get("median_lead_weeks")
    return said + (f", a median of {weeks:g} weeks before the end." if isinstance(weeks, float) else ".")


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from passcompass_assets.instance import prepare_home
    from passcompass_assets.operations import bootstrap_demo, load_demo

    prepare_home(settings)
    today = date.fromisoformat(args.today) if args.today else None
    if args.bootstrap:
        with _quietly(settings, "Loading the demo terms and replaying them") as terminal:
            bootstrap_demo(settings, today, say=lambda line: print(line, file=terminal, flush=True))
    else:
        print(f"demo terms registered: {load_demo(settings, today)} uploads received")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """The API and web page, then (on a fresh home) the demo, then Dagster (``dagster dev``: webserver and daemon),
    until Ctrl-C or SIGTERM stops them all. A few progress lines here; the full logs go to ``home/logs``."""
    from passcompass_assets import supervisor

    logs = settings.resolved_home / "logs"
    bin_dir = Path(sys.executable).parent
    api = [str(bin_dir / "passcompass"), "serve", "--host", args.host, "--port", str(args.port)]
    dagster = [str(bin_dir / "dagster"), "dev", "-m", "passcompass_assets.definitions", "-h", args.host]
    dagster += ["-p", str(args.dagster_port)]
    page, ui = f"http://{args.host}:{args.port}", f"http://{args.host}:{args.dagster_port}"
    processes = []
    with supervisor.stop_on_signals():
        try:
            with supervisor.output_to(logs / "platform.log") as terminal:
                say = functools.partial(print, file=terminal, flush=True)
                say(f"PassCompass: home {settings.resolved_home}, logs in {logs}")
                _prepare(settings)  # also what the children need to know of it: DAGSTER_HOME, DAGSTER_PG_URL
                env = {**os.environ, "PASSCOMPASS_HOME": str(settings.resolved_home)}
                # Nothing of Dagster runs yet: a run still STARTED lost its worker when the platform last stopped.
                if orphans := supervisor.fail_interrupted_runs("PassCompass was stopped while the run was in progress"):
                    say(f"{orphans} run(s) interrupted by the last stop marked failed; their work will be retried")
                demo = not args.no_demo and _fresh(settings)
                processes.append(supervisor.start(api, logs / "api.log", env, REPO_ROOT))
                if not demo:  # nothing to load first: Dagster starts beside the API
                    say("starting Dagster (webserver and daemon)")
                    processes.append(supervisor.start(dagster, logs / "dagster.log", env, REPO_ROOT))
                if supervisor.wait_for(f"{page}/api/v1/health", processes, timeout=60):
                    say(f"web page and API: {page}")
                    say(f"sign in as admin (a one-time link): {page}/?token={_signin_token(settings)}")
                if demo:
                    say("fresh home: loading the synthetic demo terms (--no-demo skips this)")
                    _bootstrap(settings, say)
                    say("starting Dagster (webserver and daemon)")
                    processes.append(supervisor.start(dagster, logs / "dagster.log", env, REPO_ROOT))
                if supervisor.wait_for(ui, processes, timeout=120):
                    say(f"ready. Dagster UI: {ui}   web page and API: {page}   (Ctrl-C stops)")
                while all(p.poll() is None for p in processes):
                    time.sleep(0.5)
                say("a platform process ended unexpectedly: see the logs; stopping the others")
        except (KeyboardInterrupt, supervisor.Stop):
            pass
        finally:
            seconds = supervisor.stop(processes)
            failed = supervisor.fail_interrupted_runs("PassCompass stopped while the run was in progress")
            note = f"; {failed} interrupted run(s) marked failed" if failed else ""
            print(f"PassCompass stopped in {seconds:.1f} s{note}", flush=True)
    return 0


def _prepare(settings: Settings) -> None:
    from passcompass_assets.instance import prepare_home

    prepare_home(settings)


def _signin_token(settings: Settings) -> str:
    from passcompass_assets.core.access.tokens import bootstrap_signin
    from passcompass_assets.core.db.engine import get_engine

    return bootstrap_signin(get_engine(settings.db_url), settings.signin_link_hours)


def _fresh(settings: Settings) -> bool:
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.ingest.uploads import has_uploads

    return not has_uploads(get_engine(settings.db_url))


def _bootstrap(settings: Settings, say: Callable[[str], None]) -> None:
    from passcompass_assets.operations import bootstrap_demo

    bootstrap_demo(settings, say=say)


def _operator() -> str:
    """Who runs a CLI command, for the records (an erasure, a token): the OS user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container's user without a passwd entry
        return f"cli:uid-{os.getuid()}"


def _access_engine(settings: Settings) -> Engine:
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import ensure_schema

    settings.ensure_dirs()
    ensure_schema(settings.db_url)
    return get_engine(settings.db_url)


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    """Make an API token; print it once (stdout: the token alone), what it grants on stderr."""
    from passcompass_assets.core.access.roles import parse_role
    from passcompass_assets.core.access.tokens import create_token

    expires = timedelta(days=args.expires) if args.expires else None
    try:
        new = create_token(
            _access_engine(settings),
            parse_role(args.role),
            args.course or [],
            expires_in=expires,
            label=args.label,
            created_by=_operator(),
        )
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    info = new.info
    grant = f", courses {', '.join(info.courses)}" if info.courses else ""
    until = f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else ", no expiry"
    print(new.token)
    print(f"token {info.token_id}: role {info.role}{grant}{until}. Shown once: only its hash is kept.", file=sys.stderr)
    return 0


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    from passcompass_assets.core.access.tokens import list_tokens

    tokens = list_tokens(_access_engine(settings))
    if args.json:
        print(json.dumps([t.as_dict() for t in tokens]))
        return 0
    for t in tokens:
        courses = ",".join(t.courses) or "-"
        expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
        label = t.label or ""
        print(f"{t.token_id}  {t.kind:6}  {t.role:10}  {t.status():8}  expires {expires:10}  {courses}  {label}")
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from passcompass_assets.core.access.tokens import revoke_token

    if not revoke_token(_access_engine(settings), args.token_id):
        print(f"no active token {args.token_id}", file=sys.stderr)
        return 1
    print(f"token {args.token_id} revoked (and every page session opened with it)")
    return 0


def cmd_session_end(settings: Settings, args: argparse.Namespace) -> int:
    """End every page session of a principal (its token, if any, stays valid)."""
    from passcompass_assets.core.access.sessions import end_sessions

    if not args.principal.startswith(("token:", "oidc:")):
        print("a principal is token:<token_id> or oidc:<subject>", file=sys.stderr)
        return 2
    ended = end_sessions(_access_engine(settings), args.principal)
    print(f"{ended} session{'' if ended == 1 else 's'} of {args.principal} ended")
    return 0


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    """Erase a student from everything the platform keeps, after a confirmation (``--yes`` skips it); say what was
    removed where (counts only). An id the platform never saw is a typo: said so, nothing recorded, exit 1."""
    from passcompass_assets.core.privacy.erasure import erase_student
    from passcompass_assets.core.students import student_known

    engine = _access_engine(settings)
    where = f" in course {args.course}" if args.course else ""
    if not student_known(settings, engine, args.user_id, args.course):
        message = f"no student with this user id{where} was ever seen (or it is already erased): nothing to erase"
        print(json.dumps({"error": "unknown_student", "detail": message}) if args.json else message, file=sys.stderr)
        return 1
    if not args.yes:
        question = f"Erase this student{where} from records, grades, landed files, reports and logs? [y/N] "
        try:
            answer = input(question)
        except EOFError:  # no terminal to ask: nothing is erased without --yes
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing erased", file=sys.stderr)
            return 1
    erasure = erase_student(settings, engine, args.user_id, course_id=args.course, actor=_operator())
    if args.json:
        print(json.dumps({**erasure.as_dict(), "course_id": args.course}))
        return 0
    removed = ", ".join(f"{place} {count}" for place, count in sorted(erasure.counts.items())) or "nothing"
    print(f"erased{where} (erasure {erasure.erasure_id}); removed: {removed}")
    return 0


def cmd_activity(settings: Settings, args: argparse.Namespace) -> int:
    """Count an activity log from a file (a one-time backfill of a log store, or an increment), as
    ``POST /api/v1/activity`` does; print what it did as JSON, or the refusal (exit 1)."""
    from passcompass_assets.core.activity.store import activity_options, import_activity
    from passcompass_assets.core.errors import Rejected

    engine = _access_engine(settings)
    with contextlib.ExitStack() as files:
        source = files.enter_context(open(args.file, "rb"))
        companion = files.enter_context(open(args.vle, "rb")) if args.vle else None
        try:
            receipt = import_activity(engine, source, args.format, companion=companion, **activity_options(settings))
        except Rejected as exc:
            print(json.dumps(exc.as_dict()), file=sys.stderr)
            return 1
    print(json.dumps(dataclasses.asdict(receipt), default=str))
    return 0


def cmd_retention(settings: Settings, _: argparse.Namespace) -> int:
    """Apply the retention settings now (what the daily retention job does)."""
    from passcompass_assets.core.privacy.retention import apply_retention

    print(json.dumps(apply_retention(settings, _access_engine(settings)).as_dict()))
    return 0


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, says: str
) -> argparse.ArgumentParser:
    """A subcommand whose one line of help is listed by ``--help`` and heads its own ``--help``."""
    return commands.add_parser(name, help=says, description=says[0].upper() + says[1:] + ".")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passcompass",
        description="PassCompass: early warning of students likely to fail a course. Run the platform, serve the "
        "API, ingest uploads, train, report, manage tokens, erase a student, migrate the database.",
        epilog="`passcompass COMMAND --help` explains a command and its options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    add = functools.partial(_command, commands)

    run = add("run", "run Dagster (UI on :3000, daemon) and the API and web page (:8000)")
    run.add_argument("--host", default="127.0.0.1", help="address the API and web page listen on")
    run.add_argument("--port", type=int, default=8000, help="of the API and web page")
    run.add_argument("--dagster-port", type=int, default=3000, help="of the Dagster UI")
    run.add_argument("--no-demo", action="store_true", help="do not bootstrap the demo terms into an empty platform")
    run.set_defaults(handler=cmd_run)

    serve = add("serve", "serve the REST API and web page")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.set_defaults(handler=cmd_serve)

    pending = add("process-pending", "process every received upload in process, then exit")
    pending.set_defaults(handler=cmd_process_pending)

    train = add("train", "train a model, log it to MLflow and apply the quality gate")
    train.add_argument("--data", help="a folder with the UCI files (student-mat.csv, student-por.csv)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.add_argument("--repeats", type=int, default=2, help="with --data: repeats of the stratified K-fold")
    train.set_defaults(handler=cmd_train)

    report = add("report", "generate one course report now")
    report.add_argument("--course-id", required=True, help="the course to report on")
    report.add_argument("--period-id", help="its period (default: the current one, else the latest)")
    report.add_argument("--as-of", help="report date (YYYY-MM-DD); default today")
    report.set_defaults(handler=cmd_report)

    demo = add("demo-data", "generate and upload the synthetic demo terms")
    demo.add_argument("--today", help="pretend today is this date (YYYY-MM-DD)")
    demo.add_argument("--bootstrap", action="store_true", help="also ingest, train and report (as `run` does)")
    demo.set_defaults(handler=cmd_demo_data)

    evaluate = add("evaluate", "score a course period's reports against its final grades")
    evaluate.add_argument("--course-id", required=True, help="the course whose reports are scored")
    evaluate.add_argument("--period-id", required=True, help="the period of its final grades")
    evaluate.set_defaults(handler=cmd_evaluate)

    token = add("token", "API tokens: create, list, revoke")
    token_commands = token.add_subparsers(dest="token_command", required=True, title="commands", metavar="COMMAND")
    create = _command(token_commands, "create", "make a token and print it once")
    create.add_argument(
        "--role", required=True, choices=["admin", "uploader", "instructor", "viewer"], help="what the token may do"
    )
    create.add_argument("--course", action="append", help="a course granted (instructor, viewer); repeat; '*': all")
    create.add_argument("--expires", type=float, metavar="DAYS", help="valid for this many days (default: no expiry)")
    create.add_argument("--label", help="what the token is for (shown by `token list`)")
    create.set_defaults(handler=cmd_token_create)
    listing = _command(token_commands, "list", "every token: id, role, status, courses (never the secret)")
    listing.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    listing.set_defaults(handler=cmd_token_list)
    revoke = _command(token_commands, "revoke", "revoke a token by its id")
    revoke.add_argument("token_id", help="the id `token list` shows")
    revoke.set_defaults(handler=cmd_token_revoke)

    session = add("session", "the web page's sessions: end a principal's")
    session_commands = session.add_subparsers(dest="session_command", required=True)
    end = _command(session_commands, "end", "end every page session of a principal now")
    end.add_argument("--principal", required=True, help="token:<token_id> or oidc:<subject>")
    end.set_defaults(handler=cmd_session_end)

    erase = add("erase", "erase a student from everything the platform keeps")
    erase.add_argument("--user-id", required=True, help="the institution's id of the student")
    erase.add_argument("--course", help="only this course")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    erase.set_defaults(handler=cmd_erase)

    activity = add("activity", "count a learning platform's activity log (a backfill of its log store, an increment)")
    activity.add_argument("file", help="the export: CSV (moodle, canvas, oulad's studentVle.csv, generic) or xAPI JSON")
    activity.add_argument("--format", required=True, choices=list(FORMATS), help="the export's layout")
    activity.add_argument("--vle", help="oulad: its vle.csv (each site's activity type)")
    activity.set_defaults(handler=cmd_activity)

    retention = add("retention", "purge what is past its retention now (the daily job)")
    retention.set_defaults(handler=cmd_retention)

    db = add("db", "database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, title="commands", metavar="COMMAND")
    _command(db_commands, "upgrade", "apply the database migrations").set_defaults(handler=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from passcompass_assets.core.catalog import CatalogError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(Settings(), args))
    except CatalogError as exc:  # a deployment catalog that cannot be used: nothing was changed because of it
        print(f"passcompass: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
