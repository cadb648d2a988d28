"""``python -m bench faults`` runs end to end and prints its table (tiny sizes, no outage).

The figures themselves are asserted by the other tests of this directory,
which run the same drivers at full size; this only proves that the command,
its options and its report work, so that the numbers someone quotes from it
come from working code.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ROWS = ("SIGKILL loop: chained deployments", "kills / inside hooks / in signal delivery", "lost (never signalled)",
        "signalled twice", "run twice", "false 'interrupted'", "damaged state: cases", "survived", "reported",
        "cases where a deployment ran again", "full disk")


def test_the_faults_benchmark_prints_every_figure_from_one_small_run(tmp_path):
    figures = tmp_path / "faults.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "faults", "--deployments", "10", "--kills", "3", "--outage", "0",
         "--damage-files", "record,transport", "--damage-kinds", "garbage", "--json", str(figures)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"the benchmark's own code failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    missing = [row for row in ROWS if row not in proc.stdout]
    assert not missing, f"the report lacks the rows {missing}:\n{proc.stdout}"
    assert "signal outage" not in proc.stdout, "--outage 0 must skip the outage scenario"
    results = json.loads(figures.read_text())
    assert (results["sigkill"]["deployments"], results["sigkill"]["kills"]) == (10, 3), results["sigkill"]
    assert results["damage"]["cases"] == 2, results["damage"]
    assert not results["errors"], results["errors"]
