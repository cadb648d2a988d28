"""End to end: templates/script.yaml on a real Heat, applied by `stoker run`, over every transport.

Each case pairs a polling transport (a property of the DeployedServer) with a signal
transport (a parameter of the deployment template), so that all three of each are
proven with the agent reading only what the metadata gives it.
"""
from __future__ import annotations

import pytest

from .e2e_support import Scenario, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]

PAIRS = [("POLL_SERVER_CFN", "CFN_SIGNAL"), ("POLL_SERVER_HEAT", "HEAT_SIGNAL"),
         ("POLL_TEMP_URL", "TEMP_URL_SIGNAL")]


@pytest.mark.parametrize("transport,signal", PAIRS, ids=[f"{p}+{s}" for p, s in PAIRS])
def test_script_outputs_reach_heat_and_an_update_reruns_with_new_inputs(
        scenario: Scenario, transport: str, signal: str) -> None:
    server, agent = scenario.server(transport)
    stack = scenario.create("script.yaml", {
        "server": server.id, "signal_transport": signal, "greeting": "Hello", "who": "Heat",
        "repeat": 2, "settings": {"colour": "green", "size": 3}})
    scenario.wait(stack, "CREATE_COMPLETE")
    outputs = scenario.client.outputs(stack)
    assert outputs["message"] == "Hello, Heat!"
    assert outputs["colour"] == "green"
    assert outputs["stdout"] == "Hello, Heat! (CREATE)\nHello, Heat! (CREATE)\n"
    assert '"colour": "green"' in outputs["stderr"]
    assert str(outputs["status_code"]) == "0"

    scenario.client.patch(stack, {"greeting": "Goodbye", "repeat": 1})
    scenario.wait(stack, "UPDATE_COMPLETE")
    outputs = scenario.client.outputs(stack)
    assert outputs["message"] == "Goodbye, Heat!"
    assert outputs["stdout"] == "Goodbye, Heat! (UPDATE)\n"

    records = agent.status()
    assert [r["name"] for r in records] == ["10_hello", "10_hello"]
    assert all(r["signal"]["state"] == "delivered" for r in records), records
    scenario.delete(stack)
