"""One HTTP/1.1 exchange over a TCP socket, wrapped in TLS for ``https://``.

The standard library's ``urllib.request`` and ``http.client`` import ``ssl``
(OpenSSL) and the ``email`` package even for plain HTTP: about 8 MB of the
idle agent's resident memory, most of what it uses beyond the interpreter.
This small client needs neither for ``http://`` and only ``ssl`` (passed in
as a context by the caller) for ``https://``: one request per connection
(``Connection: close``), the answer read by ``Content-Length``, chunked
transfer coding, or to the close. Proxies stay with ``urllib`` (see
:mod:`httpclient`).
"""
from __future__ import annotations

import socket
import sys
import urllib.parse
from typing import Any, Mapping

MAX_HEAD = 64 * 1024      # status line and headers together
MAX_LINE = 8 * 1024       # one chunk-size line
READ_SIZE = 64 * 1024
NO_BODY_STATUSES = (204, 304)


class WireError(Exception):
    """The exchange failed; ``cause`` is the OSError when the network said so."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class BodyTooLarge(WireError):
    """The answer's body is longer than the caller allows."""


def exchange(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
             timeout: float, max_body: int, tls_context: Any = None) -> tuple[int, dict[str, str], bytes]:
    """Send one request; return status, headers and body.

    ``tls_context`` (an ``ssl.SSLContext``) is
    required for ``https://`` URLs: it verifies the server's certificate and name
    as the caller configured it.
    """
    https, host, port, netloc, target = _split(url)
    if https and tls_context is None:
        raise WireError("an https URL needs a TLS context")
    request = _request_bytes(method, netloc, target, headers, body)
    name = _ascii_name(host)
    try:
        with socket.create_connection((name, port), timeout=timeout) as raw:
            sock = tls_context.wrap_socket(raw, server_hostname=name) if https else raw
            try:
                sock.sendall(request)
                return _read_answer(_Reader(sock), method, max_body)
            finally:
                if sock is not raw:
                    sock.close()
    except OSError as err:
        raise WireError(str(err), err) from None


def _ascii_name(host: str) -> str | bytes:
    """The host as bytes when it is ASCII (every IP address and almost every name), else as given.

    Given a ``str``, the resolver and ``ssl`` encode it with the ``idna`` codec,
    whose import (``stringprep``, ``unicodedata``) the daemon would carry for good
    (about 0.4 MB); for an ASCII name that codec gives back the same bytes. Both
    take the bytes as they are: ``getaddrinfo`` resolves them, ``ssl`` sends and
    verifies them as the server's name. A non-ASCII name goes through ``idna``.
    """
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host


def _read_answer(reader: "_Reader", method: str, max_body: int) -> tuple[int, dict[str, str], bytes]:
    status, headers = _read_head(reader)
    if method.upper() == "HEAD" or status in NO_BODY_STATUSES:
        return status, headers, b""
    return status, headers, _read_body(reader, headers, max_body)


def _split(url: str) -> tuple[bool, str, int, str, str]:
    """Whether TLS is used, host to connect to, port, the ``Host`` header (as the URL spells
    it) and the request target."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise WireError(f"not an http(s) URL with a host: {parts.scheme}://{parts.hostname or ''}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as err:
        raise WireError(f"bad port: {err}") from None
    netloc = parts.netloc.rpartition("@")[2]  # user info never goes into the Host header
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme == "https", parts.hostname, port, netloc, target


def _request_bytes(method: str, netloc: str, target: str, headers: Mapping[str, str],
                   body: bytes | None) -> bytes:
    lines = [f"{method.upper()} {target} HTTP/1.1", f"Host: {netloc}"]
    given = {name.lower() for name in headers}
    for name, value in headers.items():
        if name.lower() in ("host", "connection", "content-length", "transfer-encoding"):
            continue
        if "\n" in name or "\r" in name or "\n" in str(value) or "\r" in str(value):
            raise WireError(f"header {name!r} has a line break in it")
        lines.append(f"{name}: {value}")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: identity")
    if body is not None or method.upper() in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class _Reader:
    """Buffered reads from the socket: lines for the head and chunk sizes, blocks for bodies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()  # appends are amortised O(1): a 16 MB body is 256 reads
        self.closed = False

    def _fill(self) -> bool:
        if self.closed:
            return False
        try:
            data = self.sock.recv(READ_SIZE)
        except OSError as err:
            if not _is_tls_eof(err):
                raise
            data = b""  # a TLS server that closed without close_notify: the end, as for TCP
        if not data:
            self.closed = True
            return False
        self.buffer += data
        return True

    def until(self, marker: bytes, limit: int, what: str) -> bytes:
        """Everything up to and including ``marker``; WireError past ``limit`` or at the close."""
        start = 0
        while True:
            found = self.buffer.find(marker, start)
            if found >= 0:
                return self._take(found + len(marker))
            if len(self.buffer) > limit:
                raise WireError(f"{what} longer than {limit} bytes")
            start = max(0, len(self.buffer) - len(marker) + 1)
            if not self._fill():
                raise WireError(f"connection closed in the middle of the {what}")

    def exactly(self, size: int, what: str) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise WireError(f"connection closed in the middle of the {what}")
        return self._take(size)

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def rest(self, limit: int) -> bytes:
        """Everything until the server closes, failing as soon as it passes ``limit``."""
        while len(self.buffer) <= limit and self._fill():
            pass
        if len(self.buffer) > limit:
            raise BodyTooLarge(f"answer larger than {limit} bytes")
        return self._take(len(self.buffer))


def _is_tls_eof(err: OSError) -> bool:
    _ssl = sys.modules.get("_ssl")  # loaded already whenever TLS is in use (ssl.SSLEOFError is its class)
    return _ssl is not None and isinstance(err, _ssl.SSLEOFError)


def _read_head(reader: _Reader) -> tuple[int, dict[str, str]]:
    """The final status and headers (interim 1xx answers such as 100 Continue are skipped)."""
    while True:
        head = reader.until(b"\r\n\r\n", MAX_HEAD, "answer's head").decode("latin-1")
        status_line, *header_lines = head[:-4].split("\r\n")
        status = _status(status_line)
        if not 100 <= status < 200:
            return status, _headers(header_lines)


def _status(line: str) -> int:
    version, _, rest = line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise WireError(f"not an HTTP status line: {line[:80]!r}")
    return int(code)


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise WireError(f"malformed header line: {line[:80]!r}")
        headers[name.strip()] = value.strip()
    return headers


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _read_body(reader: _Reader, headers: Mapping[str, str], max_body: int) -> bytes:
    if "chunked" in (_header(headers, "transfer-encoding") or "").lower():
        return _read_chunked(reader, max_body)
    length = _header(headers, "content-length")
    if length is None:
        return reader.rest(max_body)
    if not length.strip().isdigit():
        raise WireError(f"bad Content-Length: {length[:40]!r}")
    size = int(length)
    if size > max_body:
        raise BodyTooLarge(f"answer larger than {max_body} bytes")
    return reader.exactly(size, "answer's body")


def _read_chunked(reader: _Reader, max_body: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = reader.until(b"\r\n", MAX_LINE, "chunk size line")[:-2]
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"bad chunk size: {size_text[:20]!r}") from None
        if size == 0:
            while reader.until(b"\r\n", MAX_HEAD, "trailer") != b"\r\n":
                pass  # trailers carry nothing the agent uses
            return b"".join(parts)
        total += size
        if total > max_body:
            raise BodyTooLarge(f"answer larger than {max_body} bytes")
        parts.append(reader.exactly(size, "chunk"))
        if reader.exactly(2, "chunk end") != b"\r\n":
            raise WireError("a chunk does not end with CRLF")
