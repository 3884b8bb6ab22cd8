"""SIGKILL around place(), restart, reconcile: the venue's and the database's orders match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_twenty_crashes_around_place_leave_no_duplicate_and_no_mismatch() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "chaos.py"),
            "--iterations",
            "20",
            "--seed",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = json.loads(completed.stdout.splitlines()[-1])
    assert summary["problems"] == []
    tally = summary["tally"]
    # Every crash point was exercised, and every restart refused the old order as a duplicate.
    for point in ("before_send", "after_send", "after_response"):
        assert tally.get(f"crash_{point}", 0) >= 2, tally
    assert tally["resend_DUPLICATE_ORDER"] == 19
    assert summary["matched_one_to_one"] == summary["venue_orders"] > 0
    # Orders never sent were closed by reconciliation, the others found on the venue.
    assert summary["closed_as_never_sent"] == tally["crash_before_send"]
    assert summary["database_orders"] == summary["venue_orders"] + summary["closed_as_never_sent"]
