"""The landing store: immutable, PII-free, normalised uploads, content-addressed by their SHA-256.

A client's file name is never used as a path: a file's name here is the hash of its own bytes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from passcompass_assets.core.validation import to_frame


class LandingStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / f"{sha256}.parquet"

    def put(self, data: pa.Table | pd.DataFrame) -> str:
        """Write ``data`` once; return its SHA-256. Atomic (a reader never sees half a file) and durable before
        the caller registers it: the file is synced before its rename, the folder after."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
            pq.write_table(table, tmp)
            with tmp.open("rb") as written:
                digest = hashlib.file_digest(written, "sha256").hexdigest()
                os.fsync(written.fileno())
            target = self.path_for(digest)
            if target.exists():
                tmp.unlink()
            else:
                os.replace(tmp, target)
                _fsync_dir(self.root)
            return digest
        finally:
            tmp.unlink(missing_ok=True)

    def get_table(self, sha256: str) -> pa.Table:
        return pq.read_table(self.path_for(sha256))

    def get(self, sha256: str) -> pd.DataFrame:
        return to_frame(self.get_table(sha256))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
