"""A previewed file held for its commit: the upload page's preview, then "store this upload" without choosing the
file again.

The raw file may name people (a column the upload would drop), so it is held encrypted (Fernet: AES and an HMAC)
under a key made for it alone that the server never keeps: the key travels in the page's form, the ciphertext stays
under ``PASSCOMPASS_HOME/held``. Taking it back deletes it; a held file older than :data:`HOLD_SECONDS` cannot be
read and is deleted the next time any file is held or taken. Nothing here logs a value of the file.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

HOLD_SECONDS = 30 * 60
_SUFFIX = ".held"


@dataclass(frozen=True)
class Held:
    """What the page carries to commit a held file: its id and its one-time key (never stored server-side)."""

    held_id: str
    key: str


def _path(directory: Path, held_id: str) -> Path | None:
    if len(held_id) != 32 or any(c not in "0123456789abcdef" for c in held_id):
        return None
    return directory / f"{held_id}{_SUFFIX}"


def purge_expired(directory: Path, max_age: float = HOLD_SECONDS, now: float | None = None) -> int:
    """Delete the held files older than ``max_age`` seconds; how many were deleted."""
    now = time.time() if now is None else now
    removed = 0
    for path in directory.glob(f"*{_SUFFIX}") if directory.is_dir() else ():
        try:
            if now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # taken meanwhile
            continue
    return removed


def hold(directory: Path, content: bytes) -> Held:
    """Encrypt ``content`` under a new key and keep only the ciphertext; the key is returned, never written."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    purge_expired(directory)
    key = Fernet.generate_key()
    held_id = secrets.token_hex(16)
    path = directory / f"{held_id}{_SUFFIX}"
    partial = path.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(Fernet(key).encrypt(content))
    partial.replace(path)
    return Held(held_id, key.decode())


def take(directory: Path, held_id: str, key: str, max_age: float = HOLD_SECONDS) -> bytes | None:
    """The held file's content, deleted as it is read; None when it is unknown, expired, taken or the key is
    wrong (a wrong key deletes nothing: only whoever holds the key may spend the file)."""
    purge_expired(directory, max_age)
    path = _path(directory, held_id)
    if path is None:
        return None
    try:
        sealed = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    try:
        content = Fernet(key.encode()).decrypt(sealed, ttl=int(max_age))
    except (InvalidToken, ValueError, TypeError):
        return None
    path.unlink(missing_ok=True)
    return content


def discard(directory: Path, held_id: str) -> None:
    """Forget a held file now (the officer chose another file, or gave up)."""
    if (path := _path(directory, held_id)) is not None:
        path.unlink(missing_ok=True)
