"""Reading a file dropped into the inbox folder: the file itself, never what a link points to.

A symbolic link or a hard link (a second name of a file elsewhere, e.g. one the platform's user may read but the
person dropping it may not) is refused; so is anything but a regular file, and a file larger than the upload
limit. The checks are made on the opened file, so it cannot be swapped between the check and the read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from passcompass_assets.core.errors import Rejected


def read_dropped_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` names, or :class:`Rejected` (415 ``not_a_file``, 413 ``too_large``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Rejected(415, "not_a_file", "a symbolic link; drop the file itself") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Rejected(415, "not_a_file", "not a regular file; drop the file itself")
        if info.st_nlink > 1:
            raise Rejected(415, "not_a_file", "a hard link to a file with another name; drop the file itself")
        if info.st_size > limit:
            raise Rejected(413, "too_large", f"the file is larger than {limit} bytes")
        content = handle.read(limit + 1)
    if len(content) > limit:  # grew since the check
        raise Rejected(413, "too_large", f"the file is larger than {limit} bytes")
    return content
