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


class LandingStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / f"{sha256}.parquet"

    def put(self, frame: pd.DataFrame) -> str:
        """Write ``frame`` once; return its SHA-256. Atomic: a reader never sees half a file."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, tmp)
            digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
            target = self.path_for(digest)
            if target.exists():
                tmp.unlink()
            else:
                os.replace(tmp, target)
            return digest
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, sha256: str) -> pd.DataFrame:
        return pq.read_table(self.path_for(sha256)).to_pandas()
