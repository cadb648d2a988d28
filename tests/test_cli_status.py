"""``stoker status`` as a process beside a running agent: progress of a running hook, ``--wait``,
and the polling state a daemon leaves for it."""
from __future__ import annotations

import json
import time
from importlib import resources

import jsonschema
import pytest

from tests.agent_helpers import Agent, script_item, wait_for
from tests.test_signals import Process, deployment, document, write_config

pytestmark = pytest.mark.contract

SLOW = "#!/bin/sh\necho starting\nsleep 1\necho 'step 2 of 3'\nsleep {seconds}\necho done\n"


def schema() -> dict:
    return json.loads(resources.files("stoker").joinpath("data/status.schema.json").read_text())


def test_status_shows_a_running_hooks_elapsed_time_and_last_output_line(tmp_path):
    agent = Agent(tmp_path)
    runner = agent.start_apply([script_item("slow", SLOW.format(seconds=30))])
    try:
        wait_for(lambda: "step 2 of 3" in agent.run("status").stdout, timeout=20, what="the hook's second line")
        text = agent.run("status").stdout
        assert "RUNNING" in text and "last output: step 2 of 3" in text and "id slow" in text
        result = agent.run("status", "--json")
        assert result.returncode == 3
        row = json.loads(result.stdout)["deployments"][0]
        assert row["progress"]["last_output"] == "step 2 of 3" and row["progress"]["elapsed"] >= 1
        jsonschema.validate(json.loads(result.stdout), schema())
    finally:
        runner.kill()
        runner.wait()


def test_status_wait_blocks_until_the_hook_finishes_then_reports(tmp_path):
    agent = Agent(tmp_path)
    runner = agent.start_apply([script_item("slow", SLOW.format(seconds=2))])
    try:
        wait_for(lambda: agent.run("status").returncode == 3, timeout=20, what="the hook to start")
        started = time.monotonic()
        result = agent.run("status", "--wait", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert time.monotonic() - started >= 1, "--wait must not return while the hook runs"
        assert "OK" in result.stdout and "RUNNING" not in result.stdout
    finally:
        runner.wait(timeout=30)


def test_status_wait_with_a_timeout_gives_up_with_exit_3(tmp_path):
    agent = Agent(tmp_path)
    runner = agent.start_apply([script_item("slow", SLOW.format(seconds=60))])
    try:
        wait_for(lambda: agent.run("status").returncode == 3, timeout=20, what="the hook to start")
        result = agent.run("status", "--wait", "--timeout", "1.5", "--json")
        assert result.returncode == 3
        assert json.loads(result.stdout)["summary"]["running"] == 1
    finally:
        runner.kill()
        runner.wait()


def test_a_running_daemon_leaves_its_polling_state_for_status(tmp_path, cloud):
    agent = Agent(tmp_path)
    collect = cloud.os_collect_config("POLL_SERVER_HEAT")
    write_config(agent, sections={"heat": collect["heat"]})
    cloud.publish(document([deployment(cloud, "p1", transport="HEAT_SIGNAL")], collect))
    daemon = Process(agent, "run")
    try:
        wait_for(lambda: agent.status()[0] == 0 and agent.status()[1]["agent"]["polling"], timeout=30,
                 what="the first deployment signalled and a poll recorded")
        _code, status, raw = agent.status()
        polling = status["agent"]["polling"]
        assert status["agent"]["running"] is True
        assert polling["source"] == "heat" and polling["polls"] >= 1 and polling["last_success_at"]
        assert "127.0.0.1" in polling["endpoint"] and collect["heat"]["password"] not in raw
        text = agent.run("status").stdout
        assert text.startswith("AGENT    running (pid ") and "polling heat at http://127.0.0.1" in text
    finally:
        assert daemon.stop() == 0, daemon.stderr
    assert "at http://127.0.0.1" in daemon.stderr and collect["heat"]["password"] not in daemon.stderr, \
        "the start-up line names the endpoint, with no secret"
    assert "not running (last pid" in agent.run("status").stdout
