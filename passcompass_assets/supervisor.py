"""What ``passcompass run`` starts and stops: the API and ``dagster dev``, each in a process group of its own.

Ctrl-C (or SIGTERM) stops every process they started within :data:`STOP_SECONDS`: a polite SIGTERM to each group
first, then SIGKILL for whatever is left (Dagster's code servers wait for running work and would linger). A run
the stop cut short is marked failed, never left ``STARTED``; the platform relaunches its work on the next start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import TextIO

STOP_SECONDS = 10
POLITE_SECONDS = 6  # of STOP_SECONDS, how long SIGTERM gets before SIGKILL


class Stop(Exception):
    """SIGTERM arrived: stop as for Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Stop


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM both end the block with :class:`KeyboardInterrupt` or :class:`Stop`; children started
    inside get the default dispositions (a handler is reset on exec, an ignored signal would stay ignored)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm), signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


@contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """Everything this process and its children write to stdout and stderr goes to ``log_path``; yields the
    terminal, for the few lines meant for the person who started it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()


def start(command: Sequence[str], log_path: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """``command`` in a new session (its own process group), its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip


def wait_for(url: str, processes: Sequence[subprocess.Popen[bytes]], timeout: float) -> bool:
    """True once ``url`` answers (any HTTP status); False if a process ended or the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in processes):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    process.poll()  # reap the leader: an exited group is gone, not a zombie that still counts
    try:
        os.killpg(process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> float:
    """Stop every process of every group within :data:`STOP_SECONDS`; returns the seconds it took."""
    started = time.monotonic()
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = started + POLITE_SECONDS
    while time.monotonic() < deadline and any(_group_alive(p) for p in processes):
        time.sleep(0.1)
    for process in processes:
        _signal_group(process, signal.SIGKILL)
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.5, STOP_SECONDS - (time.monotonic() - started)))
    return time.monotonic() - started


def fail_interrupted_runs(reason: str) -> int:
    """Runs still ``STARTING`` or ``STARTED`` after a stop are marked failed (their workers are gone); how many."""
    import dagster as dg

    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses))
        for run in runs:
            instance.report_run_failed(run, reason)
    return len(runs)
