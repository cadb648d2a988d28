"""The fleet benchmark's code works on the real Heat: ``python -m bench fleet`` with 3 servers, stoker only.

One server per transport, a create, an update and a short idle window; the figures
are checked to exist, never against a target (those are the benchmark's to report,
bench/README.md). The upstream side needs a PyPI install and minutes: it runs in the
full benchmark only.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from .layout import REPO, Layout

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def test_fleet_of_three_creates_updates_and_idles_with_every_figure_reported(heat_harness: Layout, tmp_path):
    report = tmp_path / "fleet.json"
    env = {**os.environ, "STOKER_HEAT_HARNESS": str(heat_harness.root),
           "STOKER_HEAT_BASE_PORT": str(heat_harness.base_port)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "fleet", "--servers", "3", "--no-upstream", "--stoker", "current",
         "--polling-interval", "2", "--idle-seconds", "5", "--settle-seconds", "2", "--timeout", "180",
         "--keep-harness", "--json", str(report)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=420)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "fleet converges: first deployment begun -> last complete" in proc.stdout, proc.stdout
    figures = json.loads(report.read_text())
    assert not figures["errors"], figures["errors"]
    stoker = figures["systems"]["stoker"]
    assert stoker["split"] == {"cfn": 1, "heat": 1, "temp_url": 1}
    for key in ("create", "create_converge", "update", "update_converge", "update_last_start"):
        assert math.isfinite(stoker[key]) and stoker[key] > 0, f"{key} was not measured: {stoker[key]}"
    assert set(stoker["idle_requests"]) == {"heat", "keystone", "swift-proxy"}
    assert stoker["rss"] > 0, "the agents' memory was not read"
