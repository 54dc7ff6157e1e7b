"""The UCI Student Performance loader: facts of the data, stable ids, the files' quirks, the download path."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from passcompass_assets.core.datasets.uci import (
    UciDataUnavailable,
    fetch_uci_archive,
    initial_training_frame,
    load_uci_dir,
)
from passcompass_assets.core.settings import Settings

UCI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"


@pytest.fixture(scope="module")
def uci_folder() -> Path:
    if not (UCI_DIR / "student-mat.csv").exists():
        pytest.skip(f"UCI Student Performance files not found at {UCI_DIR}")
    return UCI_DIR


@pytest.fixture(scope="module")
def uci(uci_folder: Path) -> pd.DataFrame:
    return load_uci_dir(uci_folder)


@pytest.mark.parametrize(
    ("course", "rows", "mean", "passing"),
    [("uci-math", 395, 10.415, 265), ("uci-portuguese", 649, 11.906, 549)],
)
def test_known_facts_of_each_course(uci: pd.DataFrame, course: str, rows: int, mean: float, passing: int) -> None:
    course_rows = uci[uci["course_id"] == course]
    assert len(course_rows) == rows
    assert course_rows["final_grade"].mean() == pytest.approx(mean, abs=5e-4)
    assert int((course_rows["final_grade"] >= course_rows["pass_mark"]).sum()) == passing


def test_ids_are_stable_and_unique(uci: pd.DataFrame, uci_folder: Path) -> None:
    again = load_uci_dir(uci_folder)
    assert again["user_id"].tolist() == uci["user_id"].tolist()
    assert uci["user_id"].is_unique
    math = uci[uci["course_id"] == "uci-math"]["user_id"]
    assert math.iloc[0] == "uci-math-0001" and math.iloc[-1] == "uci-math-0395"
    assert uci[uci["course_id"] == "uci-portuguese"]["user_id"].iloc[0] == "uci-portuguese-0001"
    assert set(uci["period_id"]) == {"uci-2008"}


def test_quirks_become_canonical_typed_columns(uci: pd.DataFrame) -> None:
    # G1 and G2 are quoted text in the files; they arrive as numbers, under their catalog names.
    for column in ("interim_grade_1", "interim_grade_2", "final_grade"):
        assert pd.api.types.is_float_dtype(uci[column]) and uci[column].notna().all()
    assert {"G1", "G2", "G3", "Medu", "failures", "address"}.isdisjoint(uci.columns)
    assert uci["mother_education"].dtype == "Int64"
    assert uci["wants_higher_education"].dtype == "boolean"
    assert set(uci["address_type"].dropna()) == {"U", "R"}  # an area type, not a postal address
    assert set(uci["grade_max"]) == {20.0} and set(uci["pass_mark"]) == {10.0}


def test_missing_files_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(UciDataUnavailable, match="PASSCOMPASS_INITIAL_DATA"):
        load_uci_dir(tmp_path)


def _nested_archive(uci_folder: Path, *, tamper: bool = False) -> bytes:
    """The shape UCI serves: student+performance.zip holding student.zip holding the CSVs."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        for name in ("student-mat.csv", "student-por.csv"):
            content = (uci_folder / name).read_bytes()
            archive.writestr(name, content + (b"\n" if tamper else b""))
        archive.writestr("student.txt", "attributes")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("student.zip", inner.getvalue())
    return outer.getvalue()


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_download_checks_the_pinned_checksums(
    uci_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _Response(_nested_archive(uci_folder)))
    dest = fetch_uci_archive(tmp_path / "good")
    assert (dest / "student-mat.csv").read_bytes() == (uci_folder / "student-mat.csv").read_bytes()

    monkeypatch.setattr(
        urllib.request, "urlopen", lambda url, timeout: _Response(_nested_archive(uci_folder, tamper=True))
    )
    with pytest.raises(UciDataUnavailable, match="SHA-256"):
        fetch_uci_archive(tmp_path / "tampered")
    assert not (tmp_path / "tampered" / "student-mat.csv").exists()


def test_initial_data_folder_or_a_clear_error_offline(
    uci_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSCOMPASS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PASSCOMPASS_INITIAL_DATA", str(uci_folder))
    assert len(initial_training_frame(Settings())) == 395 + 649

    def offline(url: str, timeout: float) -> _Response:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setenv("PASSCOMPASS_INITIAL_DATA", "none")  # opted out: the platform's own periods only
    with pytest.raises(UciDataUnavailable, match="no initial training data"):
        initial_training_frame(Settings())

    monkeypatch.delenv("PASSCOMPASS_INITIAL_DATA")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UciDataUnavailable, match="set PASSCOMPASS_INITIAL_DATA to a folder"):
        initial_training_frame(Settings())
