"""End to end: templates/group.yaml: one config on several servers, one agent each."""
from __future__ import annotations

import pytest

from .e2e_support import Scenario, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def test_deployment_group_runs_on_every_server_and_collects_each_result(scenario: Scenario) -> None:
    pairs = scenario.servers("POLL_SERVER_CFN", count=3)
    servers = {str(i): server.id for i, (server, _agent) in enumerate(pairs)}
    stack = scenario.create("group.yaml", {"servers": servers, "signal_transport": "CFN_SIGNAL",
                                           "cluster_name": "blue"})
    scenario.wait(stack, "CREATE_COMPLETE")
    outputs = scenario.client.outputs(stack)
    assert outputs["members"] == {key: f"blue/{sid}" for key, sid in servers.items()}
    assert outputs["stdouts"] == {key: "joining blue\n" for key in servers}
    for _server, agent in pairs:
        [record] = agent.status()
        assert record["signal"]["state"] == "delivered"
