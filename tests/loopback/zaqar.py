"""A loopback Zaqar v2 queue: messages posted by agents (ZAQAR_SIGNAL) and read by them (ZAQAR_MESSAGE).

What it checks, as Zaqar behind keystonemiddleware does:
- `X-Auth-Token` valid in the shared `TokenStore` (401 otherwise); queues belong to the
  token's project (keystonemiddleware overwrites `X-Project-Id` with it, so the header the
  client sends is recorded but not trusted).
- `Client-ID` present and a UUID (400 otherwise).
- POST body `{"messages": [{"body": ..., "ttl": N}, ...]}`: 1..`max_messages_per_post`
  messages, each with a `body`, `ttl` an integer in 60..1209600 (default 3600), and the whole
  body within `max_messages_post_size` (Zaqar's 256 KiB default): 400 otherwise.

Routes: `POST /v2/queues/<q>/messages` -> 201 {"resources": [...]} (each message posted is
also recorded as a signal); `GET /v2/queues/<q>/messages[?echo=true&limit=N&marker=M]` -> 200
{"messages": [...], "links": [...]}; `DELETE /v2/queues/<q>/messages?pop=N` -> 200
{"messages": [...]} (removes them).

Listing pages like Zaqar: every message gets the next value of a per-queue counter as its
marker; a GET returns at most `limit` messages (default 10, 1..20 else 400) posted after
`marker`, oldest first, and when that page is non-empty a `next` link whose href carries the
last message's marker. Nothing after the marker: `"messages": []` and no links.

Test API: `post_message` (Heat publishing metadata to the queue), `messages`,
`register_signal_queue`, records/hooks.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .base import LoopbackServer, Request, Response, new_request_id
from .tokens import TokenStore

MIN_TTL, MAX_TTL, DEFAULT_TTL = 60, 1209600, 3600
DEFAULT_LIMIT, MAX_LIMIT = 10, 20
UNAUTHORIZED = "The request you have made requires authentication."


@dataclass
class Message:
    id: str
    body: Any
    ttl: int
    created: float
    client_id: str
    marker: int = 0  # position in its queue, given when it is stored

    def expired(self, now: float) -> bool:
        return now >= self.created + self.ttl

    def to_dict(self, queue_path: str, now: float) -> dict[str, Any]:
        return {"id": self.id, "href": f"{queue_path}/{self.id}", "ttl": self.ttl,
                "age": int(now - self.created), "body": self.body}


class ZaqarError(Exception):
    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status, self.title, self.description = status, title, description

    def response(self) -> Response:
        return Response.json(self.status, {"title": self.title, "description": self.description},
                             {"X-Openstack-Request-Id": new_request_id()})


def _bad(description: str) -> ZaqarError:
    return ZaqarError(400, "Invalid API request", description)


class ZaqarServer(LoopbackServer):
    name = "zaqar"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tokens: TokenStore | None = None,
                 max_messages_post_size: int = 262144, max_messages_per_post: int = 20) -> None:
        super().__init__(host, port)
        self.tokens = tokens if tokens is not None else TokenStore()
        self.max_messages_post_size = max_messages_post_size
        self.max_messages_per_post = max_messages_per_post
        self._queues: dict[tuple[str, str], list[Message]] = {}
        self._signal_queues: dict[tuple[str, str], tuple[str | None, str]] = {}
        self._markers: dict[tuple[str, str], int] = {}
        self._data_lock = threading.Lock()

    # -- test API ----------------------------------------------------------------------
    def messaging_url(self) -> str:
        return self.url

    def post_message(self, project: str, queue: str, body: Any, ttl: int = DEFAULT_TTL,
                     client_id: str = "heat-engine") -> Message:
        """Put a message on a queue as Heat does when it publishes metadata (ZAQAR_MESSAGE)."""
        message = Message(uuid.uuid4().hex, json.loads(json.dumps(body)), ttl, time.time(), client_id)
        self._store((project, queue), [message])
        return message

    def _store(self, key: tuple[str, str], messages: list[Message]) -> None:
        """Append to a queue, numbering the messages so listings can page by marker."""
        with self._data_lock:
            for message in messages:
                self._markers[key] = message.marker = self._markers.get(key, 0) + 1
            self._queues.setdefault(key, []).extend(messages)

    def messages(self, project: str, queue: str) -> list[Message]:
        """The unexpired messages of a queue, oldest first."""
        now = time.time()
        with self._data_lock:
            return [m for m in self._queues.get((project, queue), []) if not m.expired(now)]

    def register_signal_queue(self, project: str, queue: str, stack: str | None, resource: str) -> None:
        """Name the deployment whose signals arrive on `queue` (else the queue name is used)."""
        with self._data_lock:
            self._signal_queues[(project, queue)] = (stack, resource)

    # -- protocol ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except ZaqarError as error:
            return error.response()

    def fault_response(self, status: int) -> Response:
        return ZaqarError(status, "Service temporarily unavailable", "Injected failure").response()

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v2", "queues"] or parts[3] != "messages":
            raise ZaqarError(404, "Not Found", "The resource could not be found.")
        token = self.tokens.validate(request.header("X-Auth-Token"))
        if token is None or token.project_id is None:
            return Response.json(401, {"error": {"code": 401, "title": "Unauthorized",
                                                 "message": UNAUTHORIZED}})
        client_id = self._client_id(request)
        key = (token.project_id, parts[2])
        if request.method == "POST":
            return self._post(request, key, client_id)
        if request.method == "GET":
            return self._list(request, key, client_id)
        if request.method == "DELETE" and "pop" in request.query:
            return self._pop(request, key)
        raise ZaqarError(405, "Method not allowed", "The method is not allowed for this resource.")

    @staticmethod
    def _client_id(request: Request) -> str:
        value = request.header("Client-ID")
        if not value:
            raise _bad("The header X-CLIENT-ID was missing")
        try:
            uuid.UUID(value)
        except ValueError:
            raise _bad("Malformed hexadecimal UUID.") from None
        return value

    def _post(self, request: Request, key: tuple[str, str], client_id: str) -> Response:
        if len(request.body) > self.max_messages_post_size:
            raise _bad(f"Message collection size is too large. Max size {self.max_messages_post_size}")
        specs = self._message_specs(request)
        messages = [Message(uuid.uuid4().hex, s["body"], s["ttl"], time.time(), client_id) for s in specs]
        self._store(key, messages)
        with self._data_lock:
            stack, resource = self._signal_queues.get(key, (None, key[1]))
        for message in messages:
            self.record_signal(request, stack, resource, payload=message.body)
        path = f"/v2/queues/{key[1]}/messages"
        ids = ",".join(m.id for m in messages)
        return Response.json(201, {"resources": [f"{path}/{m.id}" for m in messages]},
                             {"Location": f"{path}?ids={ids}"})

    def _message_specs(self, request: Request) -> list[dict[str, Any]]:
        try:
            document = request.json()
        except ValueError:
            raise _bad("Request body could not be parsed.") from None
        messages = document.get("messages") if isinstance(document, dict) else None
        if not isinstance(messages, list) or not messages:
            raise _bad("Missing \"messages\" list in the request body.")
        if len(messages) > self.max_messages_per_post:
            raise _bad(f"No more than {self.max_messages_per_post} messages may be posted at once.")
        return [self._message_spec(m) for m in messages]

    @staticmethod
    def _message_spec(message: Any) -> dict[str, Any]:
        if not isinstance(message, dict) or "body" not in message:
            raise _bad("Missing \"body\" field.")
        ttl = message.get("ttl", DEFAULT_TTL)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL <= ttl <= MAX_TTL:
            raise _bad(f"The TTL for a message may not exceed {MAX_TTL} seconds, "
                       f"and must be at least {MIN_TTL} seconds long.")
        return {"body": message["body"], "ttl": ttl}

    def _list(self, request: Request, key: tuple[str, str], client_id: str) -> Response:
        echo = request.query.get("echo", "false").lower() == "true"
        limit, after = self._limit(request), self._marker(request)
        now = time.time()
        found = [m for m in self.messages(*key) if m.marker > after and (echo or m.client_id != client_id)]
        page = found[:limit]
        path = f"/v2/queues/{key[1]}/messages"
        links = []
        if page:
            links.append({"rel": "next", "href": f"{path}?marker={page[-1].marker}&limit={limit}"
                                                 f"&echo={'true' if echo else 'false'}"})
        return Response.json(200, {"messages": [m.to_dict(path, now) for m in page], "links": links})

    @staticmethod
    def _limit(request: Request) -> int:
        raw = request.query.get("limit", str(DEFAULT_LIMIT))
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise _bad(f"Limit must be at least 1 and may not be greater than {MAX_LIMIT}.")
        return limit

    @staticmethod
    def _marker(request: Request) -> int:
        raw = request.query.get("marker")
        if raw in (None, ""):
            return 0
        try:
            return int(raw)
        except ValueError:
            raise _bad("Invalid marker.") from None

    def _pop(self, request: Request, key: tuple[str, str]) -> Response:
        count = int(request.query.get("pop") or "1")
        now = time.time()
        with self._data_lock:
            live = [m for m in self._queues.get(key, []) if not m.expired(now)]
            taken, self._queues[key] = live[:count], live[count:]
        path = f"/v2/queues/{key[1]}/messages"
        return Response.json(200, {"messages": [m.to_dict(path, now) for m in taken]})

    def admin(self, request: Request, parts: list[str]) -> Response | None:
        """POST /_test/queues/<project>/<queue>/messages (body = message body),
        GET the same path -> the queue's messages,
        POST /_test/signal-queues/<project>/<queue> {"stack"?, "resource"}."""
        if parts[0] == "queues" and len(parts) == 4 and parts[3] == "messages":
            if request.method == "POST":
                message = self.post_message(parts[1], parts[2], request.json())
                return Response.json(201, {"id": message.id})
            if request.method == "GET":
                return Response.json(200, [m.body for m in self.messages(parts[1], parts[2])])
        if (request.method, parts[0]) == ("POST", "signal-queues") and len(parts) == 3:
            data = request.json()
            self.register_signal_queue(parts[1], parts[2], data.get("stack"), data["resource"])
            return Response.json(200, {})
        return super().admin(request, parts)
