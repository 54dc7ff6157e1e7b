"""The landing store: immutable, PII-free, normalised uploads, content-addressed by their SHA-256.

A client's file name is never used as a path: a file's name here is the hash of its own bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from passcompass_assets.core.ingest.validation import to_frame


class LandingStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / f"{sha256}.parquet"

    def put(self, data: pa.Table | pd.DataFrame) -> str:
        """Write ``data`` once; return its SHA-256. Atomic (a reader never sees half a file) and durable before the
        caller registers it (the file is synced before it gets its name, the folder after). A writer killed midway
        leaves nothing behind: the file is written unnamed (``O_TMPFILE``) and only linked in once complete."""
        self.root.mkdir(parents=True, exist_ok=True)
        table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        with _unnamed_file(self.root) as (handle, publish):
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
            handle.seek(0)
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            publish(self.path_for(digest))
        _fsync_dir(self.root)
        return digest

    def shas(self) -> list[str]:
        """Every landed file's SHA-256, registered by an upload or not (a crash between landing a file and
        writing its upload row leaves one that no row names)."""
        if not self.root.exists():
            return []
        names = (path.name.removesuffix(".parquet") for path in self.root.glob("*.parquet"))
        return sorted(name for name in names if len(name) == 64 and all(c in "0123456789abcdef" for c in name))

    def get_table(self, sha256: str) -> pa.Table:
        return pq.read_table(self.path_for(sha256))

    def get(self, sha256: str) -> pd.DataFrame:
        return to_frame(self.get_table(sha256))


@contextmanager
def _unnamed_file(folder: Path) -> Iterator[tuple[io.BufferedRandom, Callable[[Path], None]]]:
    """A file in ``folder`` and the function that gives it its name (an existing file of that name is kept: the
    content is the same). Linux's ``O_TMPFILE`` where the filesystem has it, else a ``.tmp`` file renamed."""
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o644)
    except (AttributeError, OSError):  # no O_TMPFILE here (not Linux, or a filesystem without it)
        fd = -1
    if fd >= 0:

        def link(target: Path) -> None:
            # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names the open file; CPython uses linkat (not link,
            # which would try to link the /proc symlink itself) only when given a directory descriptor.
            proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
            try:
                with suppress(FileExistsError):
                    os.link(str(fd), target, src_dir_fd=proc, follow_symlinks=True)
            finally:
                os.close(proc)

        with os.fdopen(fd, "w+b") as handle:
            yield handle, link
        return
    descriptor, name = tempfile.mkstemp(dir=folder, suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w+b") as handle:
            yield handle, lambda target: None if target.exists() else os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
