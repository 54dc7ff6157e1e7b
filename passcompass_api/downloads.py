"""The ``Content-Disposition`` of every download, for any file name: ids come from uploads, and Greek, Cyrillic
or Chinese course codes are ordinary, while an HTTP header is Latin-1 (a name put in as it is made a 500)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote


def content_disposition(name: str, disposition: Literal["attachment", "inline"] = "attachment") -> dict[str, str]:
    """The header naming ``name``: an ASCII fallback (``filename=``) for every client, and where the name is not
    ASCII, the exact name as RFC 6266 ``filename*=UTF-8''...`` (which browsers prefer). Characters other than
    letters, digits, ``-``, ``_`` and ``.`` become ``_`` in both: no quote, slash or control character reaches it."""
    exact = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    fallback = "".join(ch if ch.isascii() else "_" for ch in exact)
    header = f'{disposition}; filename="{fallback}"'
    if fallback != exact:
        header += f"; filename*=UTF-8''{quote(exact, safe='')}"
    return {"Content-Disposition": header}
