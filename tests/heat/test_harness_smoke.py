"""Smoke test of the real-Heat harness: Heat publishes a deployment and accepts a signal.

Plays the agent by hand: reads the server metadata only through the transport and with
the credentials the metadata names, then signals through the deployment's signal
transport. If this fails, every end-to-end test of stoker would fail for reasons that are
not stoker's.
"""
from __future__ import annotations

import time
import uuid

import pytest

from . import transports
from .client import HeatClient, Stack
from .templates import template

pytestmark = [pytest.mark.realheat, pytest.mark.slow]

PAIRS = [("POLL_TEMP_URL", "TEMP_URL_SIGNAL"), ("POLL_SERVER_CFN", "CFN_SIGNAL"),
         ("POLL_SERVER_HEAT", "HEAT_SIGNAL")]


def wait_for_item(client: HeatClient, stack: Stack, timeout: float = 60.0) -> dict:
    """Read the metadata as the agent would until the deployment item shows up.

    The os-collect-config key comes from the API here (in a server it comes from the
    user-data); everything after that uses only what the metadata itself carries.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        api_view = client.resource_metadata(stack, "server")
        if "os-collect-config" in api_view:
            items = transports.agent_metadata(api_view).get("deployments") or []
            if items:
                return items[0]
        time.sleep(0.5)
    raise AssertionError(f"no deployment in the server metadata after {timeout:.0f}s")


@pytest.mark.parametrize("transport,signal", PAIRS, ids=[p[0] for p in PAIRS])
def test_deployment_round_trip(heat_client: HeatClient, transport: str, signal: str) -> None:
    name = f"smoke-{transport.lower().replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    stack = heat_client.create(name, template("deployed_server"),
                               {"transport": transport, "signal": signal, "greeting": "hello"})
    try:
        heat_client.wait_resource(stack, "deployment", "CREATE_IN_PROGRESS", timeout=60)
        item = wait_for_item(heat_client, stack)
        inputs = transports.inputs(item)
        assert item["group"] == "script"
        assert item["name"] == "10_greet"
        assert inputs["greeting"] == "hello"
        assert inputs["deploy_action"] == "CREATE"
        assert inputs["deploy_signal_transport"] == signal

        transports.send_signal(item, {"deploy_stdout": "hi", "deploy_stderr": "",
                                      "deploy_status_code": 0, "result": "hello"})
        heat_client.wait_stack(stack, "CREATE_COMPLETE", timeout=60)
        outputs = heat_client.outputs(stack)
        assert outputs["stdout"] == "hi"
        assert outputs["result"] == "hello"
        assert str(outputs["status_code"]) == "0"
    finally:
        heat_client.delete(stack)
    heat_client.wait_deleted(stack, timeout=60)
