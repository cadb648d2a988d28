"""Make docs/images/timeline.{svg,png}: ``stoker analyze --svg`` of a real run, as in the README.

A ``stoker run`` daemon polls the test suite's loopback heat-api-cfn (tests/loopback) and
runs five script deployments; one signal is refused twice with 503 before it is delivered
and one script fails. Run from a checkout with the test venv:

    .venv/bin/python docs/images/make_timeline.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "agent")]

from tests.agent_helpers import Agent, wait_for  # noqa: E402
from tests.loopback import Cloud  # noqa: E402
from tests.test_signals import Process, deployment, document, signal_path, signals_for, write_config  # noqa: E402

STEPS = [("10_packages", "sleep 2"), ("20_config", "sleep 1"), ("30_app", "sleep 1.5"),
         ("40_check", "sleep 0.5; echo 'port 8080 not answering' >&2; exit 1"), ("50_monitoring", "sleep 0.5")]


def main() -> None:
    out = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp, Cloud() as cloud:
        agent = Agent(Path(tmp))
        write_config(agent, sections={"cfn": cloud.collect_section("POLL_SERVER_CFN")})
        items = [deployment(cloud, name, script=f"#!/bin/sh\n{body}\n") for name, body in STEPS]
        flaky = next(i for i in items if i["id"] == "20_config")
        url = next(i["value"] for i in flaky["inputs"] if i["name"] == "deploy_signal_id")
        cloud.cfn.fail_next(503, count=2, method="POST", path=signal_path(url))
        daemon = Process(agent, "run")
        try:
            wait_for(lambda: agent.state.joinpath("polling.json").exists(), timeout=20, what="a first poll")
            cloud.publish(document(items, cloud.os_collect_config("POLL_SERVER_CFN")))
            wait_for(lambda: all(signals_for(cloud, f"dep-{name}") for name, _ in STEPS), timeout=60,
                     what="every signal")
        finally:
            daemon.stop()
        result = agent.run("analyze", "--svg", str(out / "timeline.svg"))
        print(result.stdout)
        subprocess.run(["rsvg-convert", "-o", str(out / "timeline.png"), str(out / "timeline.svg")], check=True)


if __name__ == "__main__":
    main()
