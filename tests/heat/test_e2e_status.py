"""End to end: `stoker status` tells a template author the whole story on a real Heat.

A deployment fails, is fixed by a stack update, and the server's stack is then deleted. At
each step `stoker status` is read as a template author would: the stack and resource names
Heat shows in `openstack stack event list` are beside stoker's ids, the exit code follows the
newest run of the deployment (not the old failure), and after the server's stack is gone the
agent's polling state says why polling fails, which before only the log said.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from .e2e_support import Agent, Scenario, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def status(agent: Agent) -> tuple[int, dict, str]:
    """``stoker status --json`` and the table: exit code, parsed JSON, text."""
    as_json = subprocess.run(agent.command("status", "--json"), capture_output=True, text=True,
                             env=agent._env(), timeout=30)
    as_text = subprocess.run(agent.command("status"), capture_output=True, text=True, env=agent._env(), timeout=30)
    assert as_json.returncode == as_text.returncode, (as_json.stderr, as_text.stderr)
    return as_json.returncode, json.loads(as_json.stdout), as_text.stdout


def test_status_names_heat_resources_follows_the_fix_and_reports_the_deleted_stack(scenario: Scenario) -> None:
    server, agent = scenario.server("POLL_SERVER_HEAT")
    stack = scenario.create("error_output.yaml", {"server": server.id, "signal_transport": "HEAT_SIGNAL",
                                                  "exit_code": 3})
    scenario.wait(stack, "CREATE_FAILED")
    code, document, text = status(agent)
    assert code == 1, text
    failed = document["deployments"][0]
    assert (failed["stack"], failed["resource"]) == (stack.name, "deployment")
    failed_events = [e for e in scenario.client.events(stack, "deployment") if "FAILED" in e["resource_status"]]
    assert failed_events, "Heat must show the failure under the same resource name"
    assert f"{stack.name}/deployment" in text and f"id {failed['id']}" in text

    scenario.client.patch(stack, {"exit_code": 0})
    scenario.wait(stack, "UPDATE_COMPLETE")
    code, document, text = status(agent)
    assert code == 0, "a failure fixed by a stack update must not keep status failing:\n" + text
    runs = document["deployments"]
    assert len(runs) == 2 and [r["superseded"] for r in runs] == [True, False], runs
    assert "superseded by a later run" in text

    polling = document["agent"]["polling"]
    assert document["agent"]["running"] is True
    assert polling["source"] == "heat" and polling["last_success_at"], polling
    assert "resource" in polling["endpoint"] and "password" not in json.dumps(polling)

    scenario.delete(stack)
    servers = scenario.server_stacks.pop()
    scenario.client.delete(servers)
    scenario.client.wait_deleted(servers, timeout=120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _code, document, text = status(agent)
        if document["agent"]["polling"]["last_error"]:
            break
        time.sleep(1)
    polling = document["agent"]["polling"]
    assert "404" in polling["last_error"] and "unknown stack or resource" in polling["last_error"], polling
    assert polling["failing_since"], polling
    assert "failing since" in text and "unknown stack or resource" in text
