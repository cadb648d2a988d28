"""A loopback Heat native API: resource metadata (POLL_SERVER_HEAT) and signals (HEAT_SIGNAL).

What it checks, as heat-api behind keystonemiddleware does:
- `X-Auth-Token` must be a valid (unexpired, unrevoked) token from the shared `TokenStore`:
  401 with Keystone's error body otherwise.
- The project in the URL must be the token's project: 403 otherwise.
- The stack must exist in that project and the resource in the stack: 404 otherwise.
- A signal body over `max_json_body_size` (1 MiB) gets 413; a body that is not JSON, 400.

Routes (`/v1/<project>/stacks/...`):
- `GET  .../stacks/<name>/<id>/resources/<res>/metadata` -> 200 {"metadata": {...}}
- `POST .../stacks/<name>/<id>/resources/<res>/signal`   -> 200 `null`
- `.../stacks/<name>/resources/...` (no id) -> 302 to the full path, as Heat redirects.

Test API: `add_stack`, `set_metadata`, `add_resource`, `orchestration_url`, records/hooks.
"""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .base import LoopbackServer, Request, Response, new_request_id
from .tokens import TokenStore

HEAT_MAX_JSON_BODY = 1024 * 1024
UNAUTHORIZED = "The request you have made requires authentication."


@dataclass
class HeatStack:
    project: str
    name: str
    id: str
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)


class HeatError(Exception):
    def __init__(self, status: int, title: str, message: str, error_type: str = "HTTPError") -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.error_type = status, title, message, error_type

    def response(self) -> Response:
        return Response.json(self.status, {
            "explanation": self.message, "code": self.status, "title": self.title,
            "error": {"message": self.message, "traceback": None, "type": self.error_type}},
            {"X-Openstack-Request-Id": new_request_id()})


class HeatServer(LoopbackServer):
    name = "heat"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tokens: TokenStore | None = None,
                 max_json_body_size: int = HEAT_MAX_JSON_BODY, auth_uri: str = "") -> None:
        super().__init__(host, port)
        self.tokens = tokens if tokens is not None else TokenStore()
        self.max_json_body_size = max_json_body_size
        self.auth_uri = auth_uri  # for WWW-Authenticate; the cloud wiring sets it
        self._stacks: dict[str, HeatStack] = {}
        self._data_lock = threading.Lock()

    # -- test API ----------------------------------------------------------------------
    def orchestration_url(self) -> str:
        """The catalog URL template Keystone lists for `orchestration`."""
        return f"{self.url}/v1/%(tenant_id)s"

    def add_stack(self, project: str, name: str, stack_id: str | None = None) -> HeatStack:
        with self._data_lock:
            for stack in self._stacks.values():
                if stack.project == project and stack.name == name:
                    return stack
            stack = HeatStack(project, name, stack_id or str(uuid.uuid4()))
            self._stacks[stack.id] = stack
            return stack

    def add_resource(self, project: str, stack: str, resource: str) -> HeatStack:
        """A resource that can be signalled (a deployment) with empty metadata."""
        target = self.add_stack(project, stack)
        with self._data_lock:
            target.resources.setdefault(resource, {})
        return target

    def set_metadata(self, project: str, stack: str, resource: str, metadata: dict[str, Any]) -> HeatStack:
        target = self.add_stack(project, stack)
        with self._data_lock:
            target.resources[resource] = json.loads(json.dumps(metadata))
        return target

    # -- protocol ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except HeatError as error:
            return error.response()

    def fault_response(self, status: int) -> Response:
        return HeatError(status, "Service Unavailable", "Injected failure").response()

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "v1" or parts[2] != "stacks":
            raise HeatError(404, "Not Found", "The resource could not be found.")
        token = self.tokens.validate(request.header("X-Auth-Token"))
        if token is None:
            return self._unauthorized()
        if token.project_id != parts[1]:
            raise HeatError(403, "Forbidden", "You are not authorized to complete this action.",
                            "Forbidden")
        project, rest = parts[1], parts[3:]
        if len(rest) == 4 and rest[1] == "resources":
            return self._redirect(request, project, rest)
        if len(rest) != 5 or rest[2] != "resources":
            raise HeatError(404, "Not Found", "The resource could not be found.")
        stack, resource, action = self._lookup(project, rest[0], rest[1]), rest[3], rest[4]
        return self._resource_action(request, stack, resource, action)

    def _resource_action(self, request: Request, stack: HeatStack, resource: str, action: str) -> Response:
        with self._data_lock:
            metadata = stack.resources.get(resource)
        if metadata is None:
            raise HeatError(404, "Not Found", f"The Resource ({resource}) could not be found.",
                            "ResourceNotFound")
        if (request.method, action) == ("GET", "metadata"):
            return Response.json(200, {"metadata": metadata})
        if (request.method, action) == ("POST", "signal"):
            return self._signal(request, stack, resource)
        raise HeatError(405, "Method Not Allowed", "The method is not allowed for this resource.")

    def _signal(self, request: Request, stack: HeatStack, resource: str) -> Response:
        if len(request.body) > self.max_json_body_size:
            raise HeatError(413, "Request Entity Too Large", "Request Entity Too Large",
                            "RequestEntityTooLarge")
        if request.body:
            try:
                request.json()
            except ValueError:
                raise HeatError(400, "Bad Request", "Malformed JSON body") from None
        self.record_signal(request, f"{stack.name}/{stack.id}", resource)
        return Response.json(200, None)

    def _lookup(self, project: str, name: str, stack_id: str) -> HeatStack:
        with self._data_lock:
            stack = self._stacks.get(stack_id)
        if stack is None or stack.project != project or stack.name != name:
            raise HeatError(404, "Not Found", f"The Stack ({name}) could not be found.",
                            "EntityNotFound")
        return stack

    def _redirect(self, request: Request, project: str, rest: list[str]) -> Response:
        with self._data_lock:
            found = [s for s in self._stacks.values() if s.project == project and s.name == rest[0]]
        if not found:
            raise HeatError(404, "Not Found", f"The Stack ({rest[0]}) could not be found.",
                            "EntityNotFound")
        location = f"{self.url}/v1/{project}/stacks/{rest[0]}/{found[0].id}/{'/'.join(rest[1:])}"
        return Response(302, b"", {"Location": location, "Content-Type": "text/plain; charset=UTF-8"})

    def _unauthorized(self) -> Response:
        headers = {"WWW-Authenticate": f'Keystone uri="{self.auth_uri}"'} if self.auth_uri else {}
        return Response.json(401, {"error": {"code": 401, "title": "Unauthorized",
                                             "message": UNAUTHORIZED}}, headers)

    def admin(self, request: Request, parts: list[str]) -> Response | None:
        """PUT /_test/metadata/<project>/<stack>/<resource> (JSON body) -> {"stack_id"},
        POST /_test/resources/<project>/<stack>/<resource> (a signal target)."""
        if parts[0] in ("metadata", "resources") and len(parts) == 4:
            if (request.method, parts[0]) == ("PUT", "metadata"):
                stack = self.set_metadata(parts[1], parts[2], parts[3], request.json())
                return Response.json(200, {"stack_id": stack.id})
            if (request.method, parts[0]) == ("POST", "resources"):
                stack = self.add_resource(parts[1], parts[2], parts[3])
                return Response.json(201, {"stack_id": stack.id})
        return super().admin(request, parts)
