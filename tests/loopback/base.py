"""What every loopback server shares: the HTTP plumbing, request records, faults and signal hooks.

The servers exist so that tests can run a real agent (in-thread or as another process)
against something that answers like heat-api-cfn, Swift, Keystone, Heat and Zaqar. Tests
then need three things the real services do not give: a record of every request (to count
polls and bytes), faults on demand (to prove the agent retries), and a hook when a signal
arrives (to drive chains of deployments). They live here once, so each server module only
knows its own protocol.

A server subclasses `LoopbackServer` and implements `handle(request) -> Response`; admin
routes under `/_test/` (for tests in other processes) are added by overriding `admin()`.
Requests to `/_test/` are neither recorded nor subject to faults.
"""
from __future__ import annotations

import base64
import email.utils
import json
import logging
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

LOG = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024
"""Largest body a loopback server reads; bigger requests get 413 (keeps memory bounded)."""

MAX_FAULT_DELAY = 120.0
"""Upper bound for an injected delay, so a mistaken fault cannot hang a test run."""

ADMIN_PREFIX = "/_test/"


@dataclass
class Request:
    """One request as the server saw it, plus what it answered (filled in after handling)."""

    method: str
    path: str  # raw path as sent, without the query
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    time: float  # wall clock, time.time()
    monotonic: float  # time.monotonic(), for durations and benchmarks
    client: tuple[str, int]
    bytes_in: int = 0
    status: int | None = None  # None: the connection was reset
    bytes_out: int = 0

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header lookup ignoring case, as HTTP requires."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body.decode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view for /_test/requests (body as text when it is UTF-8, else base64)."""
        try:
            body: dict[str, str] = {"text": self.body.decode("utf-8")}
        except UnicodeDecodeError:
            body = {"base64": base64.b64encode(self.body).decode("ascii")}
        return {
            "method": self.method, "path": self.path, "query": self.query,
            "headers": self.headers, "body": body, "time": self.time,
            "monotonic": self.monotonic, "client": list(self.client),
            "bytes_in": self.bytes_in, "status": self.status, "bytes_out": self.bytes_out,
        }


@dataclass
class Response:
    """What a server answers; `headers` may override the defaults (Content-Type, Content-Length)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(obj).encode("utf-8"),
                   {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=UTF-8",
             headers: dict[str, str] | None = None) -> "Response":
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type, **(headers or {})})


@dataclass
class Fault:
    """A misbehaviour for matching requests: delay, then reset or answer `status`.

    `count` is how many matching requests it affects (None: all of them until cleared).
    `method` and `path` (a prefix of the raw path) narrow which requests match.
    """

    status: int | None = None
    reset: bool = False
    delay: float = 0.0
    count: int | None = 1
    method: str | None = None
    path: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return not self.path or request.path.startswith(self.path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fault":
        """Build from the JSON an admin client POSTs to /_test/faults."""
        return cls(status=data.get("status"), reset=bool(data.get("reset", False)),
                   delay=float(data.get("delay", 0.0)), count=data.get("count", 1),
                   method=data.get("method"), path=data.get("path"),
                   body=str(data.get("body", "")).encode("utf-8"),
                   headers=dict(data.get("headers", {})))


class FaultPlan:
    """The faults waiting to happen, consumed first-match-first as requests arrive."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if fault.delay > MAX_FAULT_DELAY or fault.delay < 0:
            raise ValueError(f"delay must be within 0..{MAX_FAULT_DELAY} seconds")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, request: Request) -> Fault | None:
        """The first fault matching `request`, using up one of its count."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


@dataclass
class Signal:
    """A deployment signal a server received, whatever the transport.

    `resource` names the deployment resource when the server knows it (cfn, heat, and swift
    or zaqar targets registered by a test); otherwise the object or queue name.
    """

    transport: str  # "cfn", "swift", "heat", "zaqar"
    stack: str | None
    resource: str
    payload: Any  # the parsed JSON body, or None when it was not JSON
    body: bytes
    time: float
    monotonic: float
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"transport": self.transport, "stack": self.stack, "resource": self.resource,
                "payload": self.payload, "time": self.time, "monotonic": self.monotonic,
                "path": self.path, "bytes": len(self.body)}


SignalHook = Callable[[Signal], None]


def http_date(when: float) -> str:
    """RFC 7231 date, as Last-Modified and Date carry it."""
    return email.utils.formatdate(when, usegmt=True)


def parse_query(raw_query: str) -> dict[str, str]:
    """Decoded query parameters; a repeated name keeps its last value."""
    return dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))


def new_request_id() -> str:
    return "req-" + str(uuid.uuid4())


def _default_fault_response(status: int) -> Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Injected"
    return Response.text(status, f"{status} {phrase}\n")


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a background thread, with records, faults and hooks."""

    name = "loopback"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not host.startswith("127."):
            raise ValueError("loopback servers bind 127.0.0.0/8 only")
        self.host = host
        self._wanted_port = port
        self.faults = FaultPlan()
        self._requests: list[Request] = []
        self._signals: list[Signal] = []
        self._hooks: list[SignalHook] = []
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "LoopbackServer":
        httpd = ThreadingHTTPServer((self.host, self._wanted_port), _Handler)
        httpd.daemon_threads = True
        httpd.app = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"loopback-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=10)
        self._httpd = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:43210 (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    # -- records -----------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        """A snapshot of the requests so far (admin requests excluded)."""
        with self._lock:
            return list(self._requests)

    def requests_matching(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Requests with this method and/or whose raw path starts with `path`."""
        return [r for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path.startswith(path))]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def signals(self) -> list[Signal]:
        with self._lock:
            return list(self._signals)

    def clear_signals(self) -> None:
        with self._lock:
            self._signals.clear()

    # -- faults ------------------------------------------------------------------------
    def fail_next(self, status: int = 503, count: int | None = 1, method: str | None = None,
                  path: str | None = None, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> Fault:
        """Answer `status` to the next `count` matching requests, with `headers` (e.g. Retry-After) added."""
        return self.faults.add(Fault(status=status, count=count, method=method, path=path, body=body,
                                     headers=dict(headers or {})))

    def reset_next(self, count: int | None = 1, method: str | None = None,
                   path: str | None = None) -> Fault:
        """Reset (TCP RST) the connection of the next `count` matching requests."""
        return self.faults.add(Fault(reset=True, count=count, method=method, path=path))

    def delay_next(self, seconds: float, count: int | None = 1, method: str | None = None,
                   path: str | None = None) -> Fault:
        """Sleep `seconds` before answering the next `count` matching requests normally."""
        return self.faults.add(Fault(delay=seconds, count=count, method=method, path=path))

    def fault_response(self, status: int) -> Response:
        """The body of an injected error; servers override it to look like themselves."""
        return _default_fault_response(status)

    # -- signals -----------------------------------------------------------------------
    def on_signal(self, hook: SignalHook) -> None:
        """Call `hook(signal)` for every signal received, before the answer goes out.

        Running before the answer lets a hook publish the next deployment so that the
        agent's next poll already sees it (benchmarks chain deployments this way).
        """
        with self._lock:
            self._hooks.append(hook)

    def remove_signal_hooks(self) -> None:
        with self._lock:
            self._hooks.clear()

    def record_signal(self, request: Request, stack: str | None, resource: str,
                      payload: Any = ...) -> Signal:
        """Store a received signal and run the hooks; hook errors are logged, not raised.

        `payload` defaults to the request body parsed as JSON (None when it is not JSON).
        """
        if payload is ...:
            try:
                payload = request.json()
            except ValueError:
                payload = None
        signal = Signal(self.name, stack, resource, payload, request.body, request.time,
                        request.monotonic, request.path)
        with self._lock:
            self._signals.append(signal)
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook(signal)
            except Exception:  # a broken test hook must not turn into a 500 for the agent
                LOG.exception("signal hook failed on %s", self.name)
        return signal

    # -- dispatch ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Answer one protocol request. Subclasses implement it."""
        raise NotImplementedError

    def admin(self, request: Request, parts: list[str]) -> Response | None:
        """Server-specific /_test/ routes; `parts` is the path after /_test/ split on '/'.

        Return None for "no such route". Subclasses extend and call super().
        """
        return _common_admin(self, request, parts)

    def serve(self, handler: "_Handler", request: Request) -> None:
        """Run one request through admin routes or faults and the protocol handler."""
        if request.path.startswith(ADMIN_PREFIX):
            handler.send(request, self._admin(request))
            return
        with self._lock:
            self._requests.append(request)
        fault = self.faults.take(request)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.reset:
            handler.reset_connection()
            return
        if fault and fault.status:
            response = self.fault_response(fault.status)
            if fault.body:
                response.body = fault.body
            response.headers.update(fault.headers)
        else:
            response = self._handle_safely(request)
        handler.send(request, response)

    def _handle_safely(self, request: Request) -> Response:
        try:
            return self.handle(request)
        except Exception:
            LOG.exception("%s server failed on %s %s", self.name, request.method, request.path)
            return Response.text(500, "500 Internal Server Error\n")

    def _admin(self, request: Request) -> Response:
        parts = [urllib.parse.unquote(p) for p in request.path[len(ADMIN_PREFIX):].split("/")]
        try:
            response = self.admin(request, parts)
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json(400, {"error": f"{type(exc).__name__}: {exc}"})
        return response if response is not None else Response.json(404, {"error": "no such admin route"})


def _common_admin(server: LoopbackServer, request: Request, parts: list[str]) -> Response | None:
    """/_test/requests, /_test/signals, /_test/faults: the same on every server."""
    route = (request.method, parts[0])
    if route == ("GET", "requests"):
        return Response.json(200, [r.to_dict() for r in server.requests])
    if route == ("DELETE", "requests"):
        server.clear_requests()
        return Response.json(200, {})
    if route == ("GET", "signals"):
        return Response.json(200, [s.to_dict() for s in server.signals])
    if route == ("DELETE", "signals"):
        server.clear_signals()
        return Response.json(200, {})
    if route == ("POST", "faults"):
        server.faults.add(Fault.from_dict(request.json()))
        return Response.json(201, {"pending": len(server.faults.pending())})
    if route == ("DELETE", "faults"):
        server.faults.clear()
        return Response.json(200, {})
    return None


class _Handler(BaseHTTPRequestHandler):
    """Turns the socket conversation into a `Request` and writes back a `Response`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the real services do
    timeout = 30  # an idle keep-alive connection frees its thread after this long

    def do_GET(self) -> None:  # noqa: N802 (the names are http.server's)
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    @property
    def app(self) -> LoopbackServer:
        return self.server.app  # type: ignore[attr-defined]

    def version_string(self) -> str:
        return f"stoker-loopback-{self.app.name}"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        LOG.debug("%s: " + format, self.app.name, *args)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        split = urllib.parse.urlsplit(self.path)
        head_bytes = len(self.requestline) + 2 + len(bytes(self.headers)) if self.headers else 0
        request = Request(
            method=self.command, path=split.path, raw_query=split.query,
            query=parse_query(split.query), headers=dict(self.headers.items()), body=body,
            time=time.time(), monotonic=time.monotonic(),
            client=(self.client_address[0], self.client_address[1]),
            bytes_in=head_bytes + len(body))
        self.app.serve(self, request)

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked), or None after answering 413/400."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length", "0") or "0")
        except ValueError:
            self._refuse(400)
            return None
        if length < 0 or length > MAX_REQUEST_BODY:
            self._refuse(413)
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_REQUEST_BODY:
                self._refuse(413)
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _refuse(self, status: int) -> None:
        self.close_connection = True
        self._write(status, {"Content-Type": "text/plain", "Connection": "close"},
                    f"{status}\n".encode(), with_body=True)

    def send(self, request: Request, response: Response) -> None:
        headers = {"Content-Type": "text/plain; charset=UTF-8", **response.headers}
        no_body = response.status in (204, 304) or 100 <= response.status < 200
        if not no_body:
            headers.setdefault("Content-Length", str(len(response.body)))
        data = self._render(response.status, headers, response.body,
                            with_body=request.method != "HEAD" and not no_body)
        # Recorded before writing: a client may look at the records as soon as it has the answer.
        request.status, request.bytes_out = response.status, len(data)
        self._send_bytes(data)

    def _write(self, status: int, headers: dict[str, str], body: bytes, with_body: bool) -> None:
        self._send_bytes(self._render(status, headers, body, with_body))

    def _render(self, status: int, headers: dict[str, str], body: bytes, with_body: bool) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", f"Date: {http_date(time.time())}",
                 f"Server: {self.version_string()}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body if with_body else b"")

    def _send_bytes(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def reset_connection(self) -> None:
        """Close with SO_LINGER 0, so the client sees ECONNRESET instead of an answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()
