"""Pseudonymous user ids: with ``PASSCOMPASS_PSEUDONYM_KEY`` set, every user id is replaced at ingestion by a keyed
hash (HMAC-SHA256), so the platform never stores the institution's own ids; whoever holds the key maps a report's
ids back by computing the same hash. Off by default. Set it before the first upload: ids received before keep
their form, so a student would then have two."""

from __future__ import annotations

import hashlib
import hmac
import re

import pyarrow as pa

PREFIX = "p-"
_PSEUDONYM = re.compile(rf"{PREFIX}[0-9a-f]{{32}}")


def pseudonym(user_id: str, key: str) -> str:
    """``p-`` and the first 32 hex digits (128 bits) of HMAC-SHA256(key, user id)."""
    return PREFIX + hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def stored_user_id(user_id: str, key: str | None) -> str:
    """The id as the platform stores it: the pseudonym when a key is set (an id already in that form is kept)."""
    if not key or _PSEUDONYM.fullmatch(user_id):
        return user_id
    return pseudonym(user_id, key)


def pseudonymise(table: pa.Table, key: str | None) -> pa.Table:
    """``table`` with its ``user_id`` column pseudonymised (unchanged without a key)."""
    if not key or "user_id" not in table.column_names:
        return table
    ids = table.column("user_id").to_pylist()
    hashed = pa.array([None if u is None else stored_user_id(u, key) for u in ids], pa.string())
    return table.set_column(table.column_names.index("user_id"), "user_id", hashed)
