"""One small HTTP client for every source and signal transport.

Built on the standard library so the agent needs no third-party package. It
answers every HTTP status as a :class:`Response` (the caller decides what a
403 or a 304 means) and raises :class:`TransportError` only when no HTTP answer
was had (refused, reset, timed out, TLS failure) or the answer was too large.
Redirects are not followed: a pre-signed or token-bearing request must go
exactly where Heat said. Error messages carry redacted URLs only.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Mapping

from .redaction import redact, redact_url

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BODY = 16 * 1024 * 1024
USER_AGENT = "stoker/0.1"


class TransportError(Exception):
    """No usable HTTP answer. ``transient`` says whether trying again may help."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(redact(message))
        self.transient = transient


@dataclass
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def text(self, limit: int = 2000) -> str:
        """The body as redacted text, cut to ``limit`` characters, for error messages."""
        return redact(self.body[:limit].decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class TLSOptions:
    ca_file: str | None = None
    insecure: bool = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


_openers: dict[tuple[TLSOptions, bool], urllib.request.OpenerDirector] = {}


def _opener(tls: TLSOptions, https: bool) -> urllib.request.OpenerDirector:
    """A cached opener; the TLS context (CA bundle loaded: memory and time) only for https."""
    opener = _openers.get((tls, https))
    if opener is None:
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if https:
            context = ssl.create_default_context(cafile=tls.ca_file)
            if tls.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        _openers[(tls, https)] = opener
    return opener


def request(method: str, url: str, *, headers: Mapping[str, str] | None = None,
            body: bytes | None = None, timeout: float = DEFAULT_TIMEOUT,
            tls: TLSOptions = TLSOptions(), max_body: int = DEFAULT_MAX_BODY) -> Response:
    """Send one request and return the answer, whatever its status."""
    if not url.lower().startswith(("http://", "https://")):
        raise TransportError(f"not an http(s) URL: {redact_url(url)}", transient=False)
    all_headers = {"User-Agent": USER_AGENT}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=body, headers=all_headers, method=method)
    try:
        resp = _opener(tls, url.lower().startswith("https://")).open(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        resp = err
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TransportError(f"{method} {redact_url(url)}: {_describe(reason)}") from None
    try:
        data = resp.read(max_body + 1)
    except (http.client.HTTPException, OSError) as err:
        raise TransportError(f"{method} {redact_url(url)}: reading the answer: {_describe(err)}") from None
    finally:
        resp.close()
    if len(data) > max_body:
        raise TransportError(f"{method} {redact_url(url)}: answer larger than {max_body} bytes",
                             transient=False)
    return Response(status=resp.status if hasattr(resp, "status") else resp.code,
                    headers=dict(resp.headers.items()), body=data)


def _describe(err: object) -> str:
    if isinstance(err, socket.timeout) or isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, ConnectionResetError):
        return "connection reset"
    return str(err) or type(err).__name__
