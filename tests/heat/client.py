"""A small Heat client for tests: stacks from a HOT string, statuses, outputs, events.

Plain urllib (see rest.py). A test gets one with `HeatClient.login(layout, "demo")` and
drives stacks the way a template author would with `openstack stack ...`. The server's
metadata is available both as the Heat API returns it (`resource_metadata`) and as the
agent reads it (`transports.agent_metadata`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import layout as L
from .layout import Layout
from .rest import Response, expect, request

PASSWORDS = {"demo": L.DEMO_PASSWORD, "admin": L.ADMIN_PASSWORD}
DEFAULT_WAIT = 120.0


class StackTimeout(AssertionError):
    """A stack or resource did not reach the wanted status in time."""


def keystone_login(auth_url: str, body: dict) -> tuple[str, dict]:
    """POST /auth/tokens; return (token, token body with its catalog)."""
    resp = expect("POST", f"{auth_url}/auth/tokens", body={"auth": body})
    return resp.headers["X-Subject-Token"], resp.json()["token"]


def catalog_url(token_body: dict, service_type: str, interface: str = "public") -> str:
    """The endpoint URL of a service type from a token's catalog."""
    for service in token_body.get("catalog", []):
        if service["type"] == service_type:
            for endpoint in service["endpoints"]:
                if endpoint["interface"] == interface:
                    return endpoint["url"].rstrip("/")
    raise LookupError(f"no {interface} {service_type} endpoint in the catalog")


def password_auth(user: str, password: str, project: str) -> dict:
    """The auth body for a Default-domain user scoped to a project by name."""
    return {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}


@dataclass
class Stack:
    """Name and id of a stack: together they form its URL path."""

    name: str
    id: str

    @property
    def path(self) -> str:
        return f"stacks/{self.name}/{self.id}"


class HeatClient:
    """One user's view of the orchestration API."""

    def __init__(self, token: str, heat_url: str) -> None:
        self.token = token
        self.url = heat_url

    @classmethod
    def login(cls, lay: Layout, user: str = "demo") -> "HeatClient":
        """Log in as the harness's demo or admin user (project of the same name)."""
        token, body = keystone_login(lay.keystone_url,
                                     password_auth(user, PASSWORDS[user], user))
        return cls(token, catalog_url(body, "orchestration"))

    def call(self, method: str, path: str, *ok: int, **kwargs: Any) -> Response:
        """One API call relative to the project's orchestration endpoint."""
        return expect(method, f"{self.url}/{path}", *ok, token=self.token, **kwargs)

    # -- stack lifecycle ------------------------------------------------------------
    def create(self, name: str, template: str, parameters: dict | None = None,
               environment: dict | None = None, timeout_mins: int = 10) -> Stack:
        """POST a stack (template as a HOT string); returns at once, IN_PROGRESS."""
        body = {"stack_name": name, "template": template, "parameters": parameters or {},
                "environment": environment or {}, "timeout_mins": timeout_mins}
        return Stack(name, self.call("POST", "stacks", body=body).json()["stack"]["id"])

    def update(self, stack: Stack, template: str, parameters: dict | None = None,
               environment: dict | None = None) -> None:
        """A full update (PUT): template and parameters replace the old ones."""
        body = {"template": template, "parameters": parameters or {},
                "environment": environment or {}}
        self.call("PUT", stack.path, body=body)

    def patch(self, stack: Stack, parameters: dict) -> None:
        """An existing-template update (PATCH) changing only some parameters."""
        self.call("PATCH", stack.path, body={"parameters": parameters})

    def delete(self, stack: Stack) -> None:
        self.call("DELETE", stack.path)

    def action(self, stack: Stack, name: str) -> None:
        """suspend, resume, check or cancel_update."""
        self.call("POST", f"{stack.path}/actions", body={name: None})

    def suspend(self, stack: Stack) -> None:
        self.action(stack, "suspend")

    def resume(self, stack: Stack) -> None:
        self.action(stack, "resume")

    # -- reading ----------------------------------------------------------------------
    def stack(self, stack: Stack) -> dict | None:
        """The stack document, or None once it is gone."""
        resp = request("GET", f"{self.url}/{stack.path}", token=self.token)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise AssertionError(f"GET {stack.path}: {resp.status} {resp.text[:500]}")
        return resp.json()["stack"]

    def outputs(self, stack: Stack) -> dict[str, Any]:
        """{output_key: output_value} of a stack."""
        outs = (self.stack(stack) or {}).get("outputs") or []
        return {o["output_key"]: o.get("output_value") for o in outs}

    def resource(self, stack: Stack, name: str) -> dict:
        return self.call("GET", f"{stack.path}/resources/{name}").json()["resource"]

    def resource_metadata(self, stack: Stack, name: str) -> dict:
        """A resource's metadata as the API returns it (for a server: what the agent gets)."""
        return self.call("GET", f"{stack.path}/resources/{name}/metadata").json()["metadata"]

    def signal(self, stack: Stack, name: str, payload: dict | None = None) -> None:
        """Signal a resource as this user (an admin finishing a stuck deployment)."""
        self.call("POST", f"{stack.path}/resources/{name}/signal", body=payload or {})

    def events(self, stack: Stack, resource: str | None = None) -> list[dict]:
        """Events, oldest first, optionally for one resource."""
        path = f"{stack.path}/resources/{resource}/events" if resource else \
            f"{stack.path}/events"
        return self.call("GET", f"{path}?sort_dir=asc&limit=1000").json()["events"]

    def reasons(self, stack: Stack) -> list[str]:
        """'resource STATUS: reason' lines, oldest first: what to print when a test fails."""
        return [f"{e['resource_name']} {e['resource_status']}: {e.get('resource_status_reason')}"
                for e in self.events(stack)]

    # -- waiting ------------------------------------------------------------------------
    def wait_stack(self, stack: Stack, *wanted: str, timeout: float = DEFAULT_WAIT) -> dict:
        """Wait for one of `wanted` (e.g. CREATE_COMPLETE); fail on an other *_FAILED."""
        return self._wait(lambda: self.stack(stack), "stack_status", stack, wanted, timeout)

    def wait_resource(self, stack: Stack, name: str, *wanted: str,
                      timeout: float = DEFAULT_WAIT) -> dict:
        """Wait for a resource status such as CREATE_IN_PROGRESS."""
        return self._wait(lambda: self.resource(stack, name), "resource_status", stack,
                          wanted, timeout)

    def wait_deleted(self, stack: Stack, timeout: float = DEFAULT_WAIT) -> None:
        """Wait until the stack is gone (404) or DELETE_COMPLETE."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.stack(stack)
            if doc is None or doc["stack_status"] == "DELETE_COMPLETE":
                return
            if doc["stack_status"] == "DELETE_FAILED":
                raise AssertionError(f"delete failed: {doc.get('stack_status_reason')}")
            time.sleep(0.5)
        raise StackTimeout(f"{stack.name} not deleted in {timeout:.0f}s")

    def _wait(self, fetch, key: str, stack: Stack, wanted: tuple[str, ...],
              timeout: float) -> dict:
        """Poll until doc[key] is in `wanted`; stop early on an unwanted failure."""
        deadline = time.monotonic() + timeout
        doc: dict = {}
        while time.monotonic() < deadline:
            doc = fetch() or {}
            status = doc.get(key, "")
            if status in wanted:
                return doc
            if status.endswith("_FAILED"):
                break
            time.sleep(0.3)
        raise StackTimeout(f"{stack.name}: wanted {wanted}, got {doc.get(key)} "
                           f"({doc.get(key + '_reason')}); events:\n  " +
                           "\n  ".join(self.reasons(stack)))
