"""End to end: templates/component.yaml through a stack's whole life, applied by `stoker run`.

create -> CREATE config, update -> UPDATE config with the new inputs, suspend -> SUSPEND
config, resume -> RESUME config, delete -> DELETE config (Heat publishes it when the stack
delete starts; see the note in the test about Heat's Nova check). Suspend uses POLL_SERVER_HEAT polling
(POLL_TEMP_URL DeployedServers cannot be suspended: Heat itself fails with KeyError 'user').
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from .e2e_support import Scenario, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def test_component_runs_the_config_of_each_lifecycle_action_from_create_to_delete(
        scenario: Scenario) -> None:
    server, agent = scenario.server("POLL_SERVER_HEAT")
    state = scenario.tmp_path / "app"
    client = scenario.client
    stack = scenario.create("component.yaml", {"server": server.id, "signal_transport": "HEAT_SIGNAL",
                                               "state_dir": str(state), "version": "1"})
    scenario.wait(stack, "CREATE_COMPLETE")
    assert client.outputs(stack)["state"] == "running 1"
    assert client.outputs(stack)["stdout"] == "CREATE: installed version 1\n"

    client.patch(stack, {"version": "2"})
    scenario.wait(stack, "UPDATE_COMPLETE")
    assert client.outputs(stack)["state"] == "running 2"

    client.suspend(stack)
    scenario.wait(stack, "SUSPEND_COMPLETE")
    assert (state / "state").read_text() == "suspended\n"
    assert client.outputs(stack)["state"] == "suspended"

    client.resume(stack)
    scenario.wait(stack, "RESUME_COMPLETE")
    assert (state / "state").read_text() == "running 2\n"
    assert client.outputs(stack)["state"] == "running 2"

    assert not (state / "deleted").exists()
    client.delete(stack)
    # Heat publishes the DELETE action and the agent runs the DELETE config at once.
    wait_for_file(state / "deleted")
    assert (state / "deleted").read_text() == "removed 2\n"
    assert (state / "history").read_text().splitlines() == [
        "CREATE 1", "UPDATE 2", "SUSPEND 2", "RESUME 2", "DELETE 2"]
    # Heat then asks Nova whether the server still exists before it waits for the DELETE
    # signal. The harness has no Nova, so the delete fails there and the stack stays
    # DELETE_FAILED (on a cloud with Nova, a DeployedServer is unknown to Nova and Heat
    # does not wait for the signal at all); with a Nova that knows the server, it completes.
    doc = client.wait_stack(stack, "DELETE_FAILED", "DELETE_COMPLETE", timeout=60)
    if doc["stack_status"] == "DELETE_FAILED":
        assert "public endpoint for compute service" in doc["stack_status_reason"], doc
    actions = [r["action"] for r in agent.status()]
    assert actions == ["CREATE", "UPDATE", "SUSPEND", "RESUME", "DELETE"]

def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.3)
