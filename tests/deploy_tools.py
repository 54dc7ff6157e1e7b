"""Helpers for tests/test_deploy.py: read docker-compose.yml the way Compose does, and run its services' commands as
plain processes (no Docker engine here), each bounded in time and killed at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
BIN = Path(sys.executable).parent

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}; $$ is a literal $.
_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def tool(name: str) -> str | None:
    """A command from the project's venv (dev tools are pip-installed there), else from PATH."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def require_tool(name: str, why: str) -> str:
    """The tool, or a skip locally and a failure in CI (CI must validate, never skip)."""
    path = tool(name)
    if path is None:
        message = f"`{name}` not found ({why}); install the dev extras: pip install -c requirements.lock -e '.[dev]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines of a Compose .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def compose_variables(text: str) -> set[str]:
    return {m["name"] for m in _INTERPOLATION.finditer(text) if m["name"]}


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose's variable interpolation over a loaded YAML tree."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        current = variables.get(name)
        unset_or_empty = not current
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else current is None) else str(current)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else current is None:
                raise ValueError(f"required variable {name} is missing a value: {arg}")
            return str(current)
        if op in (":+", "+"):
            return arg if not (unset_or_empty if op == ":+" else current is None) else ""
        return current or ""

    return _INTERPOLATION.sub(replace, value)


def load_compose(overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with anchors and merge keys resolved and variables taken from .env.example + overrides."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return interpolate(raw, {**env_file(), **(overrides or {})})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_post_json(url: str, payload: object, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def base_env(**overrides: str) -> dict[str, str]:
    """The test process's environment less the platform's own settings, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PASSCOMPASS_", "DAGSTER_", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


@contextmanager
def container_signals() -> Iterator[None]:
    """Commands started inside get SIGINT's default disposition, as in a container (tini as PID 1). An ignored signal
    stays ignored across exec, a shell's background job (``make test &``, ``.ci/run > log &``) ignores SIGINT, and
    Dagster's code server and daemon point SIGTERM at SIGINT's disposition: from a suite started in the background
    they ignored SIGTERM, and the stop below failed only there. A handler, unlike "ignore", is reset on exec."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers are the main thread's alone
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: Sequence[str], env: Mapping[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (killed, with its children, past ``timeout``)."""
    with container_signals():
        process = subprocess.Popen(
            list(args),
            cwd=ROOT,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(args)} did not finish in {timeout:.0f}s:\n{output[-3000:]}")
    return subprocess.CompletedProcess(list(args), process.returncode, output, "")


def _kill_group(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the process group started for ``process``, then SIGKILL what is left after ``grace``."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children (uvicorn or gunicorn workers, dagster subprocesses) may outlive the leader: kill the group by its id.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


class Service:
    """One long-running command, its output in a log file; in its own process group so that stop() gets them all."""

    def __init__(self, name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w", encoding="utf-8")
        with container_signals():
            self.process = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=dict(env),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        _kill_group(self.process)
        self._log.close()


@contextmanager
def services(log_dir: Path, grace: float = 3.0) -> Iterator[Callable[[str, Sequence[str], Mapping[str, str]], Service]]:
    """Start services with the yielded function. On the way out every one is stopped at once: SIGTERM to each
    process group, ``grace`` seconds for all of them together, then SIGKILL to whatever is left."""
    started: list[Service] = []

    def start(name: str, args: Sequence[str], env: Mapping[str, str]) -> Service:
        service = Service(name, args, env, log_dir)
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in started:
            if service.alive():
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(s.alive() for s in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        for service in started:
            service.stop()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], service: Service, what: str, timeout: float = 90.0) -> float:
    """Poll ``check`` until it holds; fail early if the service died, and name its log. Returns the seconds taken."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except OSError:
            pass
        if not service.alive():
            pytest.fail(f"{service.name} exited ({service.process.returncode}) before {what}:\n{service.log_tail()}")
        if time.monotonic() - start > timeout:
            pytest.fail(f"{service.name}: no {what} within {timeout:.0f}s:\n{service.log_tail()}")
        time.sleep(0.5)


def localize(args: Sequence[str], ports: Mapping[int, int]) -> list[str]:
    """A container command made runnable on this host: 0.0.0.0 becomes 127.0.0.1 and each container port its
    free host port, as an argument on its own, as ``--opt=PORT``, or as ``127.0.0.1:PORT`` inside a string."""
    localized = []
    for arg in args:
        arg = "127.0.0.1" if arg == "0.0.0.0" else arg
        for container_port, host_port in ports.items():
            if arg == str(container_port):
                arg = str(host_port)
            arg = re.sub(rf"(=|127\.0\.0\.1:){container_port}\b", rf"\g<1>{host_port}", arg)
        localized.append(arg)
    return localized


def healthcheck_args(service: Mapping[str, Any]) -> list[str]:
    """The healthcheck of a compose service as an argument list (``CMD`` form, or ``CMD-SHELL`` through sh)."""
    test = service["healthcheck"]["test"]
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1]]
    raise AssertionError(f"unexpected healthcheck form: {test!r}")
