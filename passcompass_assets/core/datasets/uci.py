"""The UCI Student Performance data (Cortez & Silva, 2008): the model's initial training data.

The two files are read through the upload validator, so the feature catalog stays the single mapping from UCI
headers (``Medu``, ``G1`` ...) to canonical columns. The files carry no student or course id: rows get
stable ids by file and row order (``uci-math-0001`` ...).
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from passcompass_assets.core.ingest.validation import validate_csv
from passcompass_assets.core.settings import Settings

UCI_ARCHIVE_URL = "https://archive.ics.uci.edu/static/public/320/student+performance.zip"
UCI_PERIOD_ID = "uci-2008"
UCI_GRADE_MAX = 20.0
UCI_PASS_MARK = 10.0
# file name -> (course_id, id prefix)
UCI_COURSES = {
    "student-mat.csv": ("uci-math", "uci-math"),
    "student-por.csv": ("uci-portuguese", "uci-portuguese"),
}
# SHA-256 of the two CSV files inside the archive, pinned on the extracted members rather than on the zip:
# the zip wrapper (``student+performance.zip`` holding ``student.zip``) is re-packed by UCI from time to time,
# the data files are not. Computed from /work/shared/data/uci and equal to the checksums published for the
# official files; the download path itself must still be exercised once on a networked machine.
UCI_MEMBER_SHA256 = {
    "student-mat.csv": "e47f9ee225e1ee6e69b7564e6dac7123e80b8486677fe111f351964cef5dec80",
    "student-por.csv": "a7594a11d7771c0efe1a740824e0e833da9c4cad07c39a9766a874575563fb3f",
}
MAX_ARCHIVE_BYTES = 5 * 1024 * 1024
OFFLINE_HINT = (
    "set PASSCOMPASS_INITIAL_DATA to a folder holding student-mat.csv and student-por.csv "
    "(the UCI Student Performance files)"
)


class UciDataUnavailable(RuntimeError):
    """The initial training data can be neither found nor downloaded."""


def _load_course_file(path: Path, course_id: str, id_prefix: str) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    raw.insert(0, "user_id", [f"{id_prefix}-{i:04d}" for i in range(1, len(raw) + 1)])
    # Back to CSV bytes so the validator (aliases, types, ranges) does the mapping.
    validated = validate_csv(raw.to_csv(index=False).encode("utf-8"), course_id=course_id, period_id=UCI_PERIOD_ID)
    frame = validated.frame
    frame["grade_max"] = UCI_GRADE_MAX
    frame["pass_mark"] = UCI_PASS_MARK
    return frame


def load_uci_dir(path: Path) -> pd.DataFrame:
    """Both UCI courses from a folder holding ``student-mat.csv`` and ``student-por.csv``, canonical columns."""
    path = Path(path)
    missing = [name for name in UCI_COURSES if not (path / name).is_file()]
    if missing:
        raise UciDataUnavailable(f"{path} lacks {', '.join(missing)}: {OFFLINE_HINT}")
    frames = [_load_course_file(path / name, course, prefix) for name, (course, prefix) in UCI_COURSES.items()]
    return pd.concat(frames, ignore_index=True)


def _csv_members(archive: bytes) -> dict[str, bytes]:
    """The CSV files, wherever they sit in the archive (UCI nests them in an inner ``student.zip``)."""
    found: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(archive)) as outer:
        for info in outer.infolist():
            name = Path(info.filename).name
            if name in UCI_COURSES:
                found[name] = outer.read(info)
            elif name.endswith(".zip") and info.file_size < MAX_ARCHIVE_BYTES:
                found.update({k: v for k, v in _csv_members(outer.read(info)).items() if k not in found})
    return found


def fetch_uci_archive(dest: Path, *, url: str = UCI_ARCHIVE_URL, timeout: float = 30.0) -> Path:
    """Download the public UCI archive into ``dest``, check the pinned checksums, return ``dest``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
            archive = response.read(MAX_ARCHIVE_BYTES + 1)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise UciDataUnavailable(f"could not download the UCI data from {url} ({exc}): {OFFLINE_HINT}") from exc
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise UciDataUnavailable(f"the download from {url} is larger than expected: {OFFLINE_HINT}")
    try:
        members = _csv_members(archive)
    except zipfile.BadZipFile as exc:
        raise UciDataUnavailable(f"the download from {url} is not a zip archive: {OFFLINE_HINT}") from exc
    for name, expected in UCI_MEMBER_SHA256.items():
        content = members.get(name)
        if content is None:
            raise UciDataUnavailable(f"the UCI archive lacks {name}: {OFFLINE_HINT}")
        actual = hashlib.sha256(content).hexdigest()
        if actual != expected:
            raise UciDataUnavailable(
                f"{name} from {url} has SHA-256 {actual}, expected {expected}; not using it: {OFFLINE_HINT}"
            )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in UCI_MEMBER_SHA256:
        (dest / name).write_bytes(members[name])
    return dest


def initial_training_frame(settings: Settings) -> pd.DataFrame:
    """The UCI data from ``PASSCOMPASS_INITIAL_DATA`` when set, else downloaded once under the home folder.

    ``PASSCOMPASS_INITIAL_DATA=none`` opts out: the platform then learns from its own labelled periods only.
    """
    configured = os.environ.get("PASSCOMPASS_INITIAL_DATA")
    if configured and configured.lower() == "none":
        raise UciDataUnavailable("PASSCOMPASS_INITIAL_DATA=none: no initial training data")
    if configured:
        return load_uci_dir(Path(configured).expanduser())
    cache = settings.resolved_home / "initial_data" / "uci"
    if not all((cache / name).is_file() for name in UCI_COURSES):
        fetch_uci_archive(cache)
    return load_uci_dir(cache)
