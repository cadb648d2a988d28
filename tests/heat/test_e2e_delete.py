"""End to end: `stack delete` of a deployment with DELETE in its actions, on the real Heat.

Before Heat waits for a DELETE signal it asks Nova whether the deployment's server still
exists. The harness's compute endpoint (runtime/compute_api.py) knows each
DeployedServer while its resource exists, as Nova knows a server Heat booted, so Heat
waits for the agent here as it would for an OS::Nova::Server:

- the agent runs the DELETE config, Heat receives its signal, the stack is deleted;
- Heat really waits: while the agent is stopped the stack stays DELETE_IN_PROGRESS;
- a server that never answers makes the delete fail at the stack's timeout with Heat's
  own reason (no hang), and once the server is gone (404 from compute) a second delete
  completes without waiting.
"""
from __future__ import annotations

import json
import signal
import time

import pytest

from .client import StackTimeout
from .e2e_support import Agent, Scenario, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]

WITH_DELETE = ["CREATE", "UPDATE", "DELETE"]


def signalled(agent: Agent, action: str) -> list[dict]:
    """The payloads the agent signalled for deployments of one action (its notify files)."""
    found = []
    for record in agent.status():
        if record["action"] != action:
            continue
        notify = agent.root / "deployed" / f"{record['id']}.notify.json"
        found.append(json.loads(notify.read_text(encoding="utf-8")))
    return found


def wait_for_action(agent: Agent, action: str, timeout: float = 60.0) -> dict:
    """The agent's status record of the first deployment of `action`, once it is delivered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in agent.status():
            if record["action"] == action and record["signal"]["state"] == "delivered":
                return record
        time.sleep(0.5)
    raise AssertionError(f"no delivered {action} deployment in {timeout:.0f}s:\n{agent.log()[-3000:]}")


def test_stack_delete_waits_for_the_delete_config_and_completes_on_its_signal(
        scenario: Scenario) -> None:
    server, agent = scenario.server("POLL_SERVER_HEAT")
    stack = scenario.create("script.yaml", {
        "server": server.id, "signal_transport": "HEAT_SIGNAL", "who": "delete",
        "deployment_actions": WITH_DELETE})
    scenario.wait(stack, "CREATE_COMPLETE")

    agent.process.send_signal(signal.SIGSTOP)  # the server is busy: Heat must wait for it
    try:
        scenario.client.delete(stack)
        scenario.client.wait_resource(stack, "deployment", "DELETE_IN_PROGRESS", timeout=60)
        time.sleep(8)  # several of Heat's checks and agent polling intervals
        assert scenario.client.stack(stack)["stack_status"] == "DELETE_IN_PROGRESS"
    finally:
        agent.process.send_signal(signal.SIGCONT)
    scenario.client.wait_deleted(stack, timeout=90)
    scenario.stacks.remove(stack)

    [payload] = signalled(agent, "DELETE")
    assert payload["deploy_stdout"] == "Hello, delete! (DELETE)\n"
    assert payload["deploy_status_code"] == 0
    record = wait_for_action(agent, "DELETE")
    assert record["ok"] is True
    assert [r["action"] for r in agent.status()] == ["CREATE", "DELETE"]


def test_delete_of_a_server_that_never_answers_fails_at_the_stack_timeout_then_completes_once_the_server_is_gone(
        scenario: Scenario) -> None:
    server, agent = scenario.server("POLL_SERVER_CFN")
    stack = scenario.create("script.yaml", {
        "server": server.id, "signal_transport": "CFN_SIGNAL", "who": "nobody",
        "deployment_actions": WITH_DELETE}, timeout_mins=1)
    scenario.wait(stack, "CREATE_COMPLETE")
    agent.stop()  # the server is down: nothing will run the DELETE config

    started = time.monotonic()
    scenario.client.delete(stack)
    try:
        doc = scenario.client.wait_stack(stack, "DELETE_FAILED", timeout=150)
    except StackTimeout as err:
        raise AssertionError(f"the delete hung past the stack's 1-minute timeout: {err}") from None
    waited = time.monotonic() - started
    assert doc["stack_status_reason"] == "Timed out", doc
    assert 50 <= waited <= 150, waited
    deployment = scenario.client.resource(stack, "deployment")
    assert deployment["resource_status"] == "DELETE_FAILED"
    reason = deployment["resource_status_reason"]
    assert reason.startswith("DELETE aborted (Task delete from SoftwareDeployment") and \
        reason.endswith("Timed out)"), reason

    # The server's stack goes: compute now answers 404 and Heat stops waiting for it.
    for server_stack in scenario.server_stacks:
        scenario.client.delete(server_stack)
        scenario.client.wait_deleted(server_stack, timeout=90)
    scenario.server_stacks.clear()
    started = time.monotonic()
    scenario.delete(stack, timeout=60)
    assert time.monotonic() - started < 30
    assert [r["action"] for r in agent.status()] == ["CREATE"]
