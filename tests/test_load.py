"""The load test, short (``PASSCOMPASS_LOAD_SECONDS``, default 5 s), on SQLite and PostgreSQL: 20 clients mixing
1,000-row uploads for overlapping students with report downloads against ``passcompass serve``; no 5xx, no failed
request, and after applying the uploads every student's row equals their latest upload. The full minute:
``.venv/bin/python -m benchmarks.load``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package
from benchmarks.load import report, run_load  # noqa: E402


@pytest.mark.slow
def test_concurrent_uploads_and_downloads(database_url, tmp_path, capsys):
    result = run_load(database_url, tmp_path / "home", duration=float(os.environ.get("PASSCOMPASS_LOAD_SECONDS", "5")))
    report(result, rows=1000)
    with capsys.disabled():
        print(capsys.readouterr().out)
    assert result.server_errors == 0 and not result.failures, result.failures[:5]
    assert len(result.uploads) >= 10 and result.latencies["download"]
    assert not result.problems, result.problems
