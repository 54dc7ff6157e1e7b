"""The command line explains itself, and an erasure says what it found (on SQLite and PostgreSQL)."""

from __future__ import annotations

import argparse
import io
import json

import pytest
import sqlalchemy as sa

from passcompass_assets.cli import build_parser, main
from passcompass_assets.core.db.tables import erasures, student_records
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_every_command_and_option_has_a_line_of_help(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    listing = capsys.readouterr().out
    assert "early warning" in listing and "erase a student from everything" in listing
    missing = []
    pending = [("passcompass", parser)]
    while pending:
        name, command = pending.pop()
        helps = {a.dest: a.help for a in command._actions if not isinstance(a, argparse._SubParsersAction)}
        missing += [f"{name} {dest}" for dest, text in helps.items() if not text]
        listed = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        for action in listed:
            missing += [f"{name} {c.dest}" for c in action._choices_actions if not c.help]
        pending += [(f"{name} {sub}", p) for sub, p in _subparsers(command).items()]
        assert command.description or name == "passcompass", name
    assert not missing, missing


@pytest.fixture
def student(engine, store, default_period) -> str:
    apply_upload(engine, store, receive_upload(engine, store, b"user_id,course_id,age\nstu-7,bio,19\n").upload_id)
    return "stu-7"


def _erasures(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(erasures)).scalar_one()


def test_erase_an_id_never_seen_says_so_and_records_nothing(settings, engine, student, capsys):
    assert main(["erase", "--user-id", "stu-8", "--yes"]) == 1
    assert "was ever seen" in capsys.readouterr().err
    assert main(["erase", "--user-id", student, "--course", "chem", "--yes", "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["error"] == "unknown_student"
    assert _erasures(engine) == 0


def test_erase_asks_first_and_speaks_plainly(settings, engine, student, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["erase", "--user-id", student]) == 1
    assert "nothing erased" in capsys.readouterr().err and _erasures(engine) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to answer: nothing without --yes
    assert main(["erase", "--user-id", student]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["erase", "--user-id", student]) == 0
    said = capsys.readouterr().out
    assert said.startswith("Erase this student") and "removed: " in said and "student_records 1" in said
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(student_records)).scalar_one() == 0
    # Erased: now unknown (and a second erasure is refused as such).
    assert main(["erase", "--user-id", student, "--yes", "--json"]) == 1
    assert _erasures(engine) == 1
