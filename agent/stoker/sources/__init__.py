"""Metadata sources: one small module per transport behind one face (docs/architecture.md, "The data path").

A source is built from its transport's settings (the ``os-collect-config``
section Heat wrote, docs/protocol.md, "Where to poll") and answers :meth:`Source.fetch` with the
metadata document as JSON bytes, or ``None`` when it knows the document is
unchanged (a 304, unchanged local files). Deciding whether *new bytes* mean a
new document is the caller's job (it hashes them), so sources stay simple.
Everything that goes wrong is a :class:`SourceError` with a redacted message
and a ``transient`` flag. Which transports exist is ``registry.py``'s table;
a module is imported only when its source is built, so a process that never
polls a transport never loads it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from .. import httpclient, redaction
from . import registry

MAX_BODY = httpclient.DEFAULT_MAX_BODY


@dataclass(frozen=True)
class Fetched:
    """One fetch: the document (None = unchanged) and the validators to send next time."""

    content: bytes | None
    validators: dict[str, str] = field(default_factory=dict)


class SourceError(Exception):
    """The metadata could not be had; ``transient`` says whether the next poll may succeed."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(redaction.redact(message))
        self.transient = transient


class Source(Protocol):
    """What every source class declares (matching its line in ``registry.py``) and does."""

    kind: str
    required: tuple[str, ...]
    local: bool

    def fetch(self, validators: dict[str, str]) -> Fetched: ...


KINDS = registry.KINDS


def make_source(kind: str, settings: Mapping[str, Any] | None, *, timeout: float,
                tls: httpclient.TLSOptions) -> Source:
    """The source for ``kind`` built from its settings; SourceError for an unknown kind or bad settings.

    A section's own ``timeout`` and ``ca_certificate`` (upstream's ``[cfn]`` keys)
    win over the agent-wide values.
    """
    factory = registry.load(kind)
    if factory is None:
        raise SourceError(f"unknown metadata source {kind!r} (known: {', '.join(KINDS)})", transient=False)
    if settings is not None and not isinstance(settings, Mapping):
        raise SourceError(f"{kind} settings must be a mapping, not {type(settings).__name__}",
                          transient=False)
    settings = dict(settings or {})
    return factory(settings, timeout=_timeout(settings, timeout), tls=_tls(settings, tls))


def _timeout(settings: Mapping[str, Any], default: float) -> float:
    try:
        value = float(settings.get("timeout") or 0)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def _tls(settings: Mapping[str, Any], tls: httpclient.TLSOptions) -> httpclient.TLSOptions:
    ca_file = settings.get("ca_certificate")
    if isinstance(ca_file, str) and ca_file.strip():
        return httpclient.TLSOptions(ca_file=ca_file.strip())
    return tls


# ------------------------------------------------------------------ helpers for the modules

def require(kind: str, settings: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The named settings as non-empty strings, or one error naming every missing one.

    Heat leaves the sections of transports no longer in use with every value
    null; such a section gives this error rather than a crash.
    """
    missing = [name for name in names if settings.get(name) in (None, "")]
    if missing:
        raise SourceError(f"{kind} settings incomplete: {', '.join(missing)} missing", transient=False)
    return {name: str(settings[name]) for name in names}


def http_get(kind: str, url: str, *, headers: Mapping[str, str] | None = None,
             timeout: float, tls: httpclient.TLSOptions) -> httpclient.Response:
    """GET through the shared client; a transport failure becomes a SourceError."""
    try:
        return httpclient.request("GET", url, headers=headers, timeout=timeout, tls=tls, max_body=MAX_BODY)
    except httpclient.TransportError as err:
        raise SourceError(f"{kind}: {err}", transient=err.transient) from None


def status_error(kind: str, what: str, response: httpclient.Response, why: str = "") -> SourceError:
    """An error for an unexpected HTTP status, with the reason and a short redacted body."""
    detail = why or response.text(300).strip()
    return SourceError(f"{kind}: {what} answered HTTP {response.status}" + (f": {detail}" if detail else ""),
                       transient=httpclient.is_transient(response.status))


def token_get(kind: str, session: Any, service: str, url_for: Callable[[str], str], *,
              headers: Mapping[str, str] | None = None) -> httpclient.Response:
    """GET ``url_for(<service's endpoint>)`` through ``keystone.token_request`` (one re-login on 401);
    a failed login or a missing answer becomes a SourceError."""
    from .. import keystone  # only the token-based sources load Keystone
    try:
        return keystone.token_request(session, "GET", service, url_for,
                                      headers={"Accept": "application/json", **(headers or {})})
    except (keystone.KeystoneError, httpclient.TransportError) as err:
        raise SourceError(f"{kind}: {err}", transient=err.transient) from None


def token_status_error(kind: str, what: str, response: httpclient.Response, *,
                       forbidden: str, missing: str) -> SourceError:
    """:func:`status_error` for a Keystone-authenticated API, saying what 401/403/404 mean there."""
    reasons = {401: "token refused even after a fresh login", 403: forbidden, 404: missing}
    return status_error(kind, what, response, reasons.get(response.status, ""))


def json_object(kind: str, text: bytes | str, what: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object (empty text counts as ``{}``, Heat's empty metadata)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise SourceError(f"{kind}: {what} is not valid JSON: {err}", transient=False) from None
    if not isinstance(value, dict):
        raise SourceError(f"{kind}: {what} is not a JSON object but {type(value).__name__}",
                          transient=False)
    return value


def encode(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a document the source rebuilt (stable, so hashing sees no change)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
