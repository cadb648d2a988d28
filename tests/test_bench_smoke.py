"""The benchmark's own code works: one tiny round of the chain scenario, stoker only.

No upstream install (that needs the network and minutes); the full run is
``python -m bench`` (see bench/README.md).
"""
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_chain_round_with_stoker_only(tmp_path):
    report = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--no-upstream", "--stoker", "current", "--only", "chain",
         "--rounds", "1", "--chain-length", "3", "--polling-interval", "5", "--json", str(report)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chain of 3: first publish -> last signal" in proc.stdout, proc.stdout
    import json

    figures = json.loads(report.read_text())
    [run] = figures["chain"]["stoker"]
    assert run["system"] == "stoker"
    assert len(run["steps"]) == 2
    assert 0 < run["first_notice"] <= run["seconds"] < 60
    assert not figures["errors"]
