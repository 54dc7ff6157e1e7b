"""The platform key: signs the page's session cookies and keys the hash an erasure is recorded by.

``PASSCOMPASS_SECRET_KEY`` when set (several API replicas must share one); else a random key made once and kept in
``PASSCOMPASS_HOME/secret_key`` (readable by its owner only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from contextlib import suppress
from pathlib import Path

from passcompass_assets.core.settings import Settings


def key_file(settings: Settings) -> Path:
    return settings.resolved_home / "secret_key"


def platform_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = key_file(settings)
    with suppress(FileNotFoundError):
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode())
        handle.flush()
        os.fsync(handle.fileno())
    return path.read_bytes().strip()


def keyed_hash(settings: Settings, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under a key derived from the platform key for ``purpose``."""
    derived = hmac.new(platform_key(settings), purpose.encode(), hashlib.sha256).digest()
    return hmac.new(derived, value.encode(), hashlib.sha256).hexdigest()
