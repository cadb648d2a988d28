"""End to end: templates/component.yaml through a stack's whole life, applied by `stoker run`.

create -> CREATE config, update -> UPDATE config with the new inputs, suspend -> SUSPEND
config, resume -> RESUME config, delete -> DELETE config, whose signal Heat waits for (it
asks the harness's compute endpoint, which knows the server, as Nova knows a server Heat
booted) before the stack is DELETE_COMPLETE. Suspend uses POLL_SERVER_HEAT polling
(POLL_TEMP_URL DeployedServers cannot be suspended: Heat itself fails with KeyError 'user').
The same life runs a second time with templates/zaqar.yaml: the server polling its own
Zaqar queue (ZAQAR_MESSAGE) and the agent signalling through Zaqar (ZAQAR_SIGNAL),
against the harness's real Zaqar on Redis. There the server and the component are in one
stack: Heat posts a ZAQAR_MESSAGE server's metadata with the deployment's stack project.
"""
from __future__ import annotations

import json

import pytest

from . import services
from .client import Stack
from .e2e_support import Agent, Scenario, find_servers, scenario, template  # noqa: F401
from .layout import Layout

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def test_component_runs_the_config_of_each_lifecycle_action_from_create_to_delete(
        scenario: Scenario) -> None:
    server, agent = scenario.server("POLL_SERVER_HEAT")
    state = scenario.tmp_path / "app"
    stack = scenario.create("component.yaml", {"server": server.id, "signal_transport": "HEAT_SIGNAL",
                                               "state_dir": str(state), "version": "1"})
    live_from_create_to_delete(scenario, stack, agent, state)


def test_component_over_zaqar_polls_and_signals_through_the_real_zaqar_from_create_to_delete(
        heat_harness: Layout, scenario: Scenario) -> None:
    assert services.zaqar_enabled(heat_harness), \
        "the harness runs no Zaqar: install redis-server (tests/setup.d/15-redis) and the venvs"
    state = scenario.tmp_path / "app"
    stack = scenario.create("zaqar.yaml", {"state_dir": str(state), "version": "1"},
                            files={"component.yaml": template("component.yaml")})
    scenario.client.wait_resource(stack, "server", "CREATE_COMPLETE", timeout=60)
    [server] = find_servers(scenario.client, stack)
    agent = scenario.agent_for(server, "ZAQAR_MESSAGE")
    live_from_create_to_delete(scenario, stack, agent, state)
    inputs = deployed_inputs(agent)
    assert {i["deploy_signal_transport"] for i in inputs} == {"ZAQAR_SIGNAL"}
    assert all(i["deploy_queue_id"] for i in inputs)


def live_from_create_to_delete(scenario: Scenario, stack: Stack, agent: Agent, state) -> None:
    """create, update, suspend, resume, delete: each action runs its own config once."""
    client = scenario.client
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
    scenario.delete(stack)  # Heat waits for the DELETE config's signal, then deletes
    assert (state / "deleted").read_text() == "removed 2\n"
    assert (state / "history").read_text().splitlines() == [
        "CREATE 1", "UPDATE 2", "SUSPEND 2", "RESUME 2", "DELETE 2"]
    records = agent.status()
    assert [r["action"] for r in records] == ["CREATE", "UPDATE", "SUSPEND", "RESUME", "DELETE"]
    assert all(r["signal"]["state"] == "delivered" for r in records), records


def deployed_inputs(agent: Agent) -> list[dict]:
    """The Heat inputs of every deployment the agent ran ({name: value} each)."""
    out = []
    for path in sorted((agent.root / "deployed").glob("*.json")):
        if path.name.endswith(".notify.json"):
            continue
        item = json.loads(path.read_text(encoding="utf-8"))
        out.append({i["name"]: i.get("value") for i in item.get("inputs", [])})
    return out
