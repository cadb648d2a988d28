"""A thin adapter over the project's loopback Swift server (tests/loopback/swift.py).

The benchmark needs: a TempURL object per server holding the metadata (Heat
publishes it), a PUT TempURL per deployment for its signal, a callback when a
signal arrives (run before the answer goes out, so the next deployment is
already published when the agent polls again), and the request records with
bytes in and out.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from http.server import ThreadingHTTPServer  # noqa: E402

from tests.loopback.base import _Handler  # noqa: E402
from tests.loopback.swift import SwiftServer, object_path  # noqa: E402

from .tls import PrivateCA  # noqa: E402

ACCOUNT = "bench"
CONTAINER = "heat"


@dataclass(frozen=True)
class Request:
    method: str
    obj: str
    status: int | None
    bytes_in: int
    bytes_out: int
    t: float  # time.monotonic() when it arrived

    @property
    def wire(self) -> int:
        return self.bytes_in + self.bytes_out


SignalHandler = Callable[[str, bytes, float], None]


class TLSSwiftServer(SwiftServer):
    """The loopback Swift over HTTPS: its URLs say ``https://`` and every connection speaks TLS.

    The handshake happens on the first read, in the connection's own thread, so one slow
    client never holds up the accept loop.
    """

    def __init__(self, ca: PrivateCA) -> None:
        super().__init__()
        self._context = ca.server_context()

    def start(self) -> "TLSSwiftServer":
        httpd = ThreadingHTTPServer((self.host, self._wanted_port), _Handler)
        httpd.socket = self._context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        httpd.daemon_threads = True
        httpd.app = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="loopback-swift-tls", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


class Loopback:
    """One Swift server with one account and container; objects are named by the scenarios.

    With ``ca``, it speaks HTTPS with a certificate that CA signed.
    """

    def __init__(self, ca: PrivateCA | None = None) -> None:
        self.ca = ca
        self.swift = (TLSSwiftServer(ca) if ca else SwiftServer()).start()
        self.swift.add_account(ACCOUNT)
        self.swift.create_container(ACCOUNT, CONTAINER)
        self._handlers: dict[str, SignalHandler] = {}
        self._lock = threading.Lock()
        self.swift.on_signal(self._on_signal)

    def get_url(self, name: str) -> str:
        """The metadata TempURL an agent polls (Heat's ``request.metadata_url``)."""
        return self.swift.temp_url("GET", ACCOUNT, CONTAINER, name)

    def put_url(self, name: str) -> str:
        """A signal TempURL (Heat's ``deploy_signal_id`` with ``deploy_signal_verb: PUT``)."""
        return self.swift.make_signal_url(ACCOUNT, CONTAINER, name, resource=name)

    def publish(self, name: str, document: dict) -> None:
        """Heat's side: replace the metadata object (not counted as agent traffic)."""
        self.swift.put_object(ACCOUNT, CONTAINER, name, document)

    def on_put(self, name: str, handler: SignalHandler) -> None:
        """Call ``handler(name, body, monotonic time)`` when a signal is PUT to object ``name``."""
        with self._lock:
            self._handlers[name] = handler

    def _on_signal(self, signal) -> None:
        name = signal.path.rsplit("/", 1)[-1]
        with self._lock:
            handler = self._handlers.get(name)
        if handler is not None:
            handler(name, signal.body, signal.monotonic)

    def requests(self, name: str | None = None) -> list[Request]:
        """What agents sent (to object ``name`` only, when given), oldest first."""
        path = object_path(ACCOUNT, CONTAINER, name) if name else None
        return [Request(r.method, r.path.rsplit("/", 1)[-1], r.status, r.bytes_in, r.bytes_out, r.monotonic)
                for r in self.swift.requests if path is None or r.path == path]

    def close(self) -> None:
        self.swift.stop()
