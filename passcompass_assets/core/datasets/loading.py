"""Whether the demo is being loaded: the loader marks its start and end with a file under the home, so the home page
can say "the demo is being loaded" instead of "no courses yet".

The marker names the process that wrote it; a marker whose process is gone from this host (killed before it could
remove the file), or older than a day, is stale and says nothing.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

MARKER: Final = "demo-loading.json"
STALE_SECONDS: Final = 24 * 3600


def _marker(home: Path) -> Path:
    return home / MARKER


@contextmanager
def loading_demo(home: Path) -> Iterator[None]:
    """Mark the demo as loading for the duration of the block; the marker goes when it ends, failed or not."""
    path = _marker(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    mark = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    path.write_text(json.dumps(mark) + "\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def demo_loading(home: Path) -> bool:
    """Whether a demo load is under way in ``home`` (a marker that is not stale)."""
    try:
        mark = json.loads(_marker(home).read_text())
        pid, host, started = int(mark["pid"]), str(mark["host"]), float(mark["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if time.time() - started > STALE_SECONDS:
        return False
    return host != socket.gethostname() or _alive(pid)
