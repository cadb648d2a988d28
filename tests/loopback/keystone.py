"""A loopback Keystone v3: password authentication, project-scoped tokens and a catalog.

What it checks: the user (by id, or by name plus domain id/name) and its password, and that
the user has a role on the project the token is scoped to (by id, or name plus domain).
Failures answer 401 with Keystone's error body and WWW-Authenticate header; a malformed
request answers 400.

What it answers: `POST /v3/auth/tokens` -> 201, `X-Subject-Token`, and a token body with
`expires_at`, `issued_at`, `methods`, `user`, `project`, `roles` and `catalog` (endpoint URLs
may contain `%(tenant_id)s` / `%(project_id)s`, filled with the project id as Keystone does).
`GET /v3/auth/tokens` validates a token (X-Auth-Token + X-Subject-Token). `GET /v3` and
`GET /` give version documents for clients that discover.

Tokens live in a `TokenStore` shared with the Heat and Zaqar servers; `token_lifetime`
(seconds) is configurable so tests can watch an agent renew.
"""
from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .base import LoopbackServer, Request, Response, new_request_id
from .tokens import Token, TokenStore

DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
UNAUTHORIZED = "The request you have made requires authentication."


@dataclass
class User:
    id: str
    name: str
    password: str
    domain_id: str = "default"
    projects: set[str] = field(default_factory=set)


@dataclass
class Project:
    id: str
    name: str
    domain_id: str = "default"


@dataclass
class Endpoint:
    interface: str  # public, internal, admin
    url: str
    region_id: str = "RegionOne"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Service:
    type: str  # orchestration, messaging, object-store, cloudformation, identity
    name: str
    endpoints: list[Endpoint]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class AuthError(Exception):
    """A Keystone error answer: status, title and message."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _iso(when: float) -> str:
    """Keystone's timestamp format: 2024-01-01T00:00:00.000000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z"


class KeystoneServer(LoopbackServer):
    name = "keystone"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tokens: TokenStore | None = None,
                 token_lifetime: float = 3600.0) -> None:
        super().__init__(host, port)
        self.tokens = tokens if tokens is not None else TokenStore()
        self.token_lifetime = token_lifetime
        self._users: dict[str, User] = {}
        self._projects: dict[str, Project] = {}
        self._services: list[Service] = []
        self._data_lock = threading.Lock()

    # -- test API ----------------------------------------------------------------------
    @property
    def auth_url(self) -> str:
        """What Heat hands out as `auth_url` / `deploy_auth_url`."""
        return f"{self.url}/v3"

    def add_project(self, name: str | None = None, project_id: str | None = None,
                    domain_id: str = "default") -> Project:
        project = Project(project_id or uuid.uuid4().hex, name or f"project-{secrets.token_hex(4)}",
                          domain_id)
        with self._data_lock:
            self._projects[project.id] = project
        return project

    def add_user(self, name: str | None = None, password: str | None = None,
                 projects: list[str] | None = None, user_id: str | None = None,
                 domain_id: str = "default") -> User:
        """A user with a role (`member`) on each of `projects` (project ids)."""
        user = User(user_id or uuid.uuid4().hex, name or f"user-{secrets.token_hex(4)}",
                    password or secrets.token_urlsafe(16), domain_id, set(projects or ()))
        with self._data_lock:
            self._users[user.id] = user
        return user

    def add_service(self, service_type: str, name: str, public_url: str,
                    internal_url: str | None = None, region_id: str = "RegionOne",
                    admin_url: str | None = None) -> Service:
        """Add a catalog entry; internal/admin default to the public URL."""
        endpoints = [Endpoint("public", public_url, region_id),
                     Endpoint("internal", internal_url or public_url, region_id),
                     Endpoint("admin", admin_url or internal_url or public_url, region_id)]
        service = Service(service_type, name, endpoints)
        with self._data_lock:
            self._services.append(service)
        return service

    def clear_catalog(self) -> None:
        with self._data_lock:
            self._services.clear()

    # -- protocol ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("POST", "/v3/auth/tokens"):
                return self._issue(request)
            if route in (("GET", "/v3/auth/tokens"), ("HEAD", "/v3/auth/tokens")):
                return self._validate(request)
            if route[0] == "GET" and route[1] == "/v3":
                return Response.json(200, {"version": self._version()})
            if route[0] == "GET" and route[1] == "":
                return Response.json(300, {"versions": {"values": [self._version()]}})
            raise AuthError(404, "Not Found", "The resource could not be found.")
        except AuthError as error:
            return self._error(error)

    def fault_response(self, status: int) -> Response:
        return self._error(AuthError(status, "Service Unavailable", "Injected failure"))

    def _error(self, error: AuthError) -> Response:
        headers = {"Vary": "X-Auth-Token", "X-Openstack-Request-Id": new_request_id()}
        if error.status == 401:
            headers["WWW-Authenticate"] = f'Keystone uri="{self.auth_url}"'
        return Response.json(error.status, {"error": {"code": error.status, "title": error.title,
                                                      "message": error.message}}, headers)

    def _issue(self, request: Request) -> Response:
        try:
            auth = request.json()["auth"]
            identity = auth["identity"]
            methods = identity["methods"]
        except (ValueError, KeyError, TypeError):
            raise AuthError(400, "Bad Request", "Expecting to find auth in request body.") from None
        if methods != ["password"]:
            raise AuthError(401, "Unauthorized", UNAUTHORIZED)
        user = self._check_password(identity.get("password", {}).get("user", {}))
        project = self._scope(auth.get("scope"), user)
        token = self.tokens.issue(user.id, user.name, user.domain_id,
                                  project.id if project else None,
                                  project.name if project else None, self.token_lifetime)
        return Response.json(201, {"token": self._token_body(token)},
                             {"X-Subject-Token": token.id, "Vary": "X-Auth-Token",
                              "X-Openstack-Request-Id": new_request_id()})

    def _check_password(self, spec: dict[str, Any]) -> User:
        if not isinstance(spec, dict) or "password" not in spec:
            raise AuthError(400, "Bad Request", "Expecting to find password in user.")
        user = self._find_user(spec)
        if user is None or not secrets.compare_digest(str(spec["password"]), user.password):
            raise AuthError(401, "Unauthorized", UNAUTHORIZED)
        return user

    def _find_user(self, spec: dict[str, Any]) -> User | None:
        with self._data_lock:
            if "id" in spec:
                return self._users.get(str(spec["id"]))
            domain = spec.get("domain") or {}
            for user in self._users.values():
                if user.name == spec.get("name") and _domain_matches(domain, user.domain_id):
                    return user
        return None

    def _scope(self, scope: Any, user: User) -> Project | None:
        if not scope:
            return None
        spec = scope.get("project") if isinstance(scope, dict) else None
        if not isinstance(spec, dict):
            raise AuthError(401, "Unauthorized", UNAUTHORIZED)
        with self._data_lock:
            candidates = list(self._projects.values())
        for project in candidates:
            if spec.get("id") == project.id or (
                    spec.get("name") == project.name
                    and _domain_matches(spec.get("domain") or {}, project.domain_id)):
                if project.id in user.projects:
                    return project
        raise AuthError(401, "Unauthorized", UNAUTHORIZED)

    def _validate(self, request: Request) -> Response:
        if self.tokens.validate(request.header("X-Auth-Token")) is None:
            raise AuthError(401, "Unauthorized", UNAUTHORIZED)
        subject = self.tokens.validate(request.header("X-Subject-Token"))
        if subject is None:
            raise AuthError(404, "Not Found", "Could not find token.")
        return Response.json(200, {"token": self._token_body(subject)},
                             {"X-Subject-Token": subject.id})

    def _token_body(self, token: Token) -> dict[str, Any]:
        body: dict[str, Any] = {
            "methods": token.methods, "audit_ids": [token.audit_id],
            "issued_at": _iso(token.issued_at), "expires_at": _iso(token.expires_at),
            "user": {"id": token.user_id, "name": token.user_name, "password_expires_at": None,
                     "domain": _domain(token.user_domain_id)},
        }
        if token.project_id:
            with self._data_lock:
                project = self._projects[token.project_id]
            body["project"] = {"id": project.id, "name": project.name,
                               "domain": _domain(project.domain_id)}
            body["is_domain"] = False
            body["roles"] = [{"id": "member-role-id", "name": "member"}]
            body["catalog"] = self._catalog(project.id)
        return body

    def _catalog(self, project_id: str) -> list[dict[str, Any]]:
        with self._data_lock:
            services = list(self._services)
        return [{"id": s.id, "type": s.type, "name": s.name,
                 "endpoints": [{"id": e.id, "interface": e.interface, "region_id": e.region_id,
                                "region": e.region_id, "url": _fill(e.url, project_id)}
                               for e in s.endpoints]}
                for s in services]

    def _version(self) -> dict[str, Any]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.auth_url}/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def admin(self, request: Request, parts: list[str]) -> Response | None:
        """POST /_test/tokens/expire, POST /_test/tokens/revoke: force agents to re-authenticate."""
        if request.method == "POST" and parts[:1] == ["tokens"] and len(parts) == 2:
            if parts[1] == "expire":
                self.tokens.expire_all()
                return Response.json(200, {})
            if parts[1] == "revoke":
                return Response.json(200, {"revoked": self.tokens.revoke_all()})
        return super().admin(request, parts)


def _domain(domain_id: str) -> dict[str, str]:
    return DEFAULT_DOMAIN if domain_id == "default" else {"id": domain_id, "name": domain_id}


def _domain_matches(spec: dict[str, Any], domain_id: str) -> bool:
    """A name/domain reference matches by domain id or name; no domain means 'default'."""
    if not spec:
        return domain_id == "default"
    return spec.get("id") == domain_id or spec.get("name") == _domain(domain_id)["name"]


def _fill(url: str, project_id: str) -> str:
    return url.replace("%(tenant_id)s", project_id).replace("%(project_id)s", project_id)
