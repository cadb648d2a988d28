"""Heat's side of every fault scenario: a loopback heat-api-cfn serving one server's deployments."""
from __future__ import annotations

import urllib.parse
from typing import Any

from tests.loopback.cfn import CfnServer

STACK = "faults-stack"
SERVER = "server"


class Heat:
    """What Heat does for one server: a heat-api-cfn serving its metadata and taking CFN signals."""

    def __init__(self) -> None:
        self.cfn = CfnServer().start()
        self.cfn.add_stack(STACK)
        self.credential = self.cfn.add_credentials(stack=STACK)
        self.items: list[dict[str, Any]] = []

    def __enter__(self) -> Heat:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.cfn.stop()

    def collect(self) -> dict[str, Any]:
        """The ``os-collect-config`` key Heat writes for POLL_SERVER_CFN."""
        return {"collectors": ["cfn"],
                "cfn": {"metadata_url": self.cfn.metadata_url(), "access_key_id": self.credential.access,
                        "secret_access_key": self.credential.secret, "stack_name": STACK,
                        "path": f"{SERVER}.Metadata"}}

    def item(self, ident: str, script: str) -> dict[str, Any]:
        """A ``group: script`` deployment whose signal goes to this server (CFN_SIGNAL)."""
        resource = resource_of(ident)
        values = {"deploy_server_id": "9f2c7a10-0000-4000-8000-000000000001", "deploy_action": "CREATE",
                  "deploy_stack_id": f"{STACK}/0", "deploy_resource_name": resource,
                  "deploy_signal_transport": "CFN_SIGNAL",
                  "deploy_signal_id": self.cfn.make_signal_url(STACK, resource), "deploy_signal_verb": "POST"}
        return {"id": ident, "name": ident, "group": "script", "creation_time": "2024-01-01T00:00:00Z",
                "config": script, "options": None, "outputs": None,
                "inputs": [{"name": k, "value": v, "type": "String"} for k, v in values.items()]}

    def document(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"os-collect-config": self.collect(), "deployments": list(items)}

    def publish(self, items: list[dict[str, Any]]) -> None:
        """Make these the server's deployments (what Heat does when a deployment is created)."""
        self.items = list(items)
        self.cfn.set_metadata(STACK, SERVER, self.document(items))

    def signals(self, ident: str) -> list:
        return [s for s in self.cfn.signals if s.resource == resource_of(ident)]

    def signal_count(self, ident: str) -> int:
        return len(self.signals(ident))

    def refuse_signals(self, ident: str, item: dict[str, Any]) -> None:
        """Answer 503 to every signal of ``ident`` until :meth:`accept_signals`."""
        self.cfn.fail_next(503, count=None, method="POST", path=signal_path(item))

    def accept_signals(self) -> None:
        self.cfn.faults.clear()

    def polls(self) -> int:
        return len(self.cfn.requests_matching("GET", "/v1/"))


def resource_of(ident: str) -> str:
    return f"dep-{ident}"


def signal_path(item: dict[str, Any]) -> str:
    """The path an item's signal is POSTed to: what a fault or a request count on the server matches."""
    url = next(i["value"] for i in item["inputs"] if i["name"] == "deploy_signal_id")
    return urllib.parse.urlsplit(url).path
