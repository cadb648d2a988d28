"""Drive a `python -m tests.loopback` process from another process, through its /_test/ routes.

Image tests and benchmarks run the agent somewhere else (a chroot, a VM, a second process);
they still need to publish metadata, mint signal URLs, inject faults and read what arrived.
`LoopbackClient` reads the state file the CLI wrote and does that over HTTP on 127.0.0.1,
with urllib only, so it works from any Python that can import this module.
"""
from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

STATE_FILE = "loopback.json"


class LoopbackClient:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    @classmethod
    def from_state_dir(cls, state_dir: str | Path, wait: float = 0.0) -> "LoopbackClient":
        """Read DIR/loopback.json, waiting up to `wait` seconds for the server to write it."""
        path = Path(state_dir) / STATE_FILE
        deadline = time.monotonic() + wait
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return cls(json.loads(path.read_text()))

    def url(self, server: str) -> str:
        return self.state["servers"][server]["url"]

    def _call(self, server: str, method: str, route: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        quoted = "/".join(urllib.parse.quote(p, safe="") for p in route.split("/"))
        request = urllib.request.Request(f"{self.url(server)}/_test/{quoted}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback only)
            text = response.read()
        return json.loads(text) if text else None

    # -- metadata ------------------------------------------------------------------------
    def publish(self, metadata: dict[str, Any], resource: str | None = None) -> None:
        """Make `metadata` the server's metadata on cfn, Heat, Swift and the Zaqar queue."""
        name = resource or self.state["server_resource"]
        stack, project = self.state["stack"]["name"], self.state["project"]["id"]
        swift = self.state["swift"]
        self._call("cfn", "PUT", f"metadata/{stack}/{name}", metadata)
        self._call("heat", "PUT", f"metadata/{project}/{stack}/{name}", metadata)
        self._call("swift", "PUT", f"objects/{swift['account']}/{swift['metadata_container']}/{name}",
                   raw=json.dumps(metadata).encode())
        self._call("zaqar", "POST", f"queues/{project}/{name}-metadata/messages", metadata)

    # -- signal targets --------------------------------------------------------------------
    def cfn_signal_url(self, resource: str) -> str:
        return self._call("cfn", "POST", "signal-url",
                          {"stack": self.state["stack"]["name"], "resource": resource})["url"]

    def swift_signal_url(self, resource: str, obj: str | None = None) -> str:
        swift = self.state["swift"]
        return self._call("swift", "POST", "signal-url", {
            "account": swift["account"], "container": swift["signal_container"],
            "object": obj or resource, "stack": self.state["stack"]["name"], "resource": resource})["url"]

    def heat_signal_resource(self, resource: str) -> None:
        self._call("heat", "POST",
                   f"resources/{self.state['project']['id']}/{self.state['stack']['name']}/{resource}")

    def zaqar_signal_queue(self, resource: str, queue: str | None = None) -> str:
        queue = queue or f"{resource}-signal"
        self._call("zaqar", "POST", f"signal-queues/{self.state['project']['id']}/{queue}",
                   {"stack": self.state["stack"]["name"], "resource": resource})
        return queue

    # -- records and faults ----------------------------------------------------------------
    def signals(self, server: str | None = None) -> list[dict[str, Any]]:
        names = [server] if server else list(self.state["servers"])
        found = [s for name in names for s in self._call(name, "GET", "signals")]
        return sorted(found, key=lambda s: s["monotonic"])

    def requests(self, server: str) -> list[dict[str, Any]]:
        return self._call(server, "GET", "requests")

    def clear(self, server: str) -> None:
        for route in ("requests", "signals", "faults"):
            self._call(server, "DELETE", route)

    def fault(self, server: str, **fault: Any) -> None:
        """e.g. fault("cfn", status=503, count=2, method="GET", path="/v1/"), reset=True, delay=2."""
        self._call(server, "POST", "faults", fault)

    def expire_tokens(self) -> None:
        self._call("keystone", "POST", "tokens/expire")
