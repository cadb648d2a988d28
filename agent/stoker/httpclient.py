"""One small HTTP client for every source and signal transport.

Built on the standard library so the agent needs no third-party package. It
answers every HTTP status as a :class:`Response` (the caller decides what a
403 or a 304 means) and raises :class:`TransportError` only when no HTTP answer
was had (refused, reset, timed out, TLS failure) or the answer was too large.
Redirects are not followed: a pre-signed or token-bearing request must go
exactly where Heat said. Error messages carry redacted URLs only.

Requests go through :mod:`httpwire`; only when a proxy variable is set do they
go through ``urllib``, which honours it (and ``no_proxy``) and is imported only
then. OpenSSL (the ``ssl`` module) is loaded for the first ``https://`` URL
only: plain HTTP never loads it, ``http.client`` or the ``email`` package,
megabytes the agent would otherwise carry while idle.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import httpwire
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
    """One HTTP answer, whatever its status; ``url`` is the URL that gave it (for messages, redacted there)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    url: str = ""

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


def is_transient(status: int) -> bool:
    """Whether an HTTP refusal may pass by itself: a timeout (408), throttling (429) or server trouble (5xx).

    The one rule for sources, signals and Keystone alike (docs/protocol.md, "Signals"):
    anything else is an answer that will not change when asked again.
    """
    return status in (408, 429) or status >= 500


@dataclass(frozen=True)
class TLSOptions:
    """How ``https://`` peers are verified: against ``ca_file``, or the system's CA bundle when None."""

    ca_file: str | None = None


_contexts: dict[TLSOptions, Any] = {}
_openers: dict[TLSOptions | None, Any] = {}


def _tls_context(tls: TLSOptions) -> Any:
    """The verifying ``ssl.SSLContext`` for these options, made once and shared by every request.

    Loading CAs costs memory and time: one context per CA setting, whatever
    number of sources and signals use it (the proxy path through urllib too),
    and with a CA file configured only that file is loaded, never the system bundle.
    """
    context = _contexts.get(tls)
    if context is None:
        import ssl

        context = ssl.create_default_context(cafile=tls.ca_file)
        _contexts[tls] = context
    return context


def _opener(tls: TLSOptions | None) -> Any:
    """A cached urllib opener (for proxies) that never follows redirects; ``tls`` None: plain HTTP."""
    opener = _openers.get(tls)
    if opener is None:
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
                return None

        handlers: list[urllib.request.BaseHandler] = [NoRedirect()]
        if tls is not None:
            handlers.append(urllib.request.HTTPSHandler(context=_tls_context(tls)))
        opener = urllib.request.build_opener(*handlers)
        _openers[tls] = opener
    return opener


def _proxy_configured() -> bool:
    """Whether any proxy variable is set (urllib then decides, honouring ``no_proxy``)."""
    return any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
               for name, value in os.environ.items())


def request(method: str, url: str, *, headers: Mapping[str, str] | None = None,
            body: bytes | None = None, timeout: float = DEFAULT_TIMEOUT,
            tls: TLSOptions = TLSOptions(), max_body: int = DEFAULT_MAX_BODY) -> Response:
    """Send one request and return the answer, whatever its status."""
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")):
        raise TransportError(f"not an http(s) URL: {redact_url(url)}", transient=False)
    all_headers = {"User-Agent": USER_AGENT}
    all_headers.update(headers or {})
    https_tls = tls if lowered.startswith("https://") else None
    if _proxy_configured():
        return _via_urllib(method, url, all_headers, body, timeout, https_tls, max_body)
    return _direct(method, url, all_headers, body, timeout, https_tls, max_body)


def _direct(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
            timeout: float, tls: TLSOptions | None, max_body: int) -> Response:
    """``tls`` is None for plain HTTP."""
    try:
        context = _tls_context(tls) if tls is not None else None
        status, answer_headers, data = httpwire.exchange(method, url, headers, body, timeout, max_body,
                                                         tls_context=context)
    except httpwire.BodyTooLarge:
        raise TransportError(f"{method} {redact_url(url)}: answer larger than {max_body} bytes",
                             transient=False) from None
    except httpwire.WireError as err:
        raise TransportError(f"{method} {redact_url(url)}: {_describe(err.cause or err)}") from None
    except OSError as err:  # the CA file named by ca_certificate cannot be read or parsed
        raise TransportError(f"{method} {redact_url(url)}: TLS set-up: {_describe(err)}") from None
    return Response(status=status, headers=answer_headers, body=data, url=url)


def _via_urllib(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                timeout: float, tls: TLSOptions | None, max_body: int) -> Response:
    import http.client
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        resp = _opener(tls).open(req, timeout=timeout)
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
                    headers=dict(resp.headers.items()), body=data, url=url)


def _describe(err: object) -> str:
    if isinstance(err, socket.timeout) or isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, ConnectionResetError):
        return "connection reset"
    return str(err) or type(err).__name__
