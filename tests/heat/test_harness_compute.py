"""The harness's compute endpoint answers as Nova would about DeployedServers.

Heat decides whether to wait for a DELETE signal by asking Nova for the server: if this
endpoint is wrong, the DELETE tests fail for reasons that are not stoker's. It must know
a DeployedServer while its resource exists (to its own project and to an admin), forget
it once the resource is deleted (404), and refuse callers Keystone does not vouch for.
"""
from __future__ import annotations

import uuid

import pytest

from . import layout as L
from .client import HeatClient, Stack, catalog_url, keystone_login, password_auth
from .e2e_support import find_servers, post_stack, template
from .layout import Layout
from .rest import request

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def compute_login(lay: Layout, user: str, password: str) -> tuple[str, str]:
    """(token, compute URL) of a harness user, from its token's catalog."""
    token, body = keystone_login(lay.keystone_url, password_auth(user, password, user))
    return token, catalog_url(body, "compute")


def test_compute_knows_a_deployed_server_while_its_resource_exists(
        heat_harness: Layout, heat_client: HeatClient) -> None:
    name = f"compute-{uuid.uuid4().hex[:6]}"
    stack = Stack(name, post_stack(heat_client, {
        "stack_name": name, "template": template("servers.yaml"),
        "parameters": {"software_config_transport": "POLL_SERVER_HEAT"}, "timeout_mins": 5}))
    try:
        heat_client.wait_stack(stack, "CREATE_COMPLETE", timeout=90)
        [server] = find_servers(heat_client, stack)
        token, compute = compute_login(heat_harness, "demo", L.DEMO_PASSWORD)
        admin_token, _ = compute_login(heat_harness, "admin", L.ADMIN_PASSWORD)

        version = request("GET", compute, token=token)
        assert version.status == 200
        assert version.json()["version"]["min_version"] == "2.1"
        shown = request("GET", f"{compute}/servers/{server.id}", token=token,
                        headers={"OpenStack-API-Version": "compute 2.79"})
        assert shown.status == 200, shown.text
        assert shown.headers["OpenStack-API-Version"] == "compute 2.79"
        assert shown.json()["server"]["id"] == server.id
        assert shown.json()["server"]["name"] == "server-0"
        assert shown.json()["server"]["status"] == "ACTIVE"
        listed = request("GET", f"{compute}/servers", token=token).json()["servers"]
        assert server.id in {s["id"] for s in listed}
        assert request("GET", f"{compute}/servers/{server.id}", token=admin_token).status == 200

        assert request("GET", f"{compute}/servers/{server.id}", token="not-a-token").status == 401
        assert request("GET", f"{compute}/servers/{uuid.uuid4()}", token=token).status == 404
        assert request("POST", f"{compute}/servers", token=token, body={"server": {}}).status == 501
    finally:
        heat_client.delete(stack)
    heat_client.wait_deleted(stack, timeout=90)
    gone = request("GET", f"{compute}/servers/{server.id}", token=token)
    assert gone.status == 404
    assert gone.json()["itemNotFound"]["message"] == f"Instance {server.id} could not be found."
    listed = request("GET", f"{compute}/servers/detail", token=token).json()["servers"]
    assert server.id not in {s["id"] for s in listed}
