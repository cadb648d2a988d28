"""Scrub secrets from anything that leaves the agent as text.

Every log line, error message and status view passes through :func:`redact`.
Two mechanisms work together:

* patterns for secrets whose *shape* is known: signed query parameters
  (``Signature``, ``temp_url_sig``, ``AWSAccessKeyId``), token headers and
  JSON/INI fields named like passwords, secrets, tokens and keys;
* exact values the agent has learned are secret (passwords and keys read from
  the metadata's transport settings, secret-looking deployment inputs), so
  that a password echoed in an unexpected place is still hidden.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable, Iterable

MASK = "***"

# Query parameters that carry a signature or an identity in signed URLs.
_SIGNED_PARAMS = ("Signature", "temp_url_sig", "AWSAccessKeyId", "X-Amz-Signature",
                  "X-Amz-Credential", "sig", "token")
_QUERY_RE = re.compile(
    r"(?P<key>[?&](?:%s)=)(?P<value>[^&#\s\"'<>]*)" % "|".join(map(re.escape, _SIGNED_PARAMS)),
    re.IGNORECASE,
)
# Names of fields whose values are secret wherever they appear.
SECRET_NAME_RE = re.compile(r"(password|passwd|secret|token|private_key|access_key|signal_id|_key$)",
                            re.IGNORECASE)
_JSON_FIELD_RE = re.compile(
    r'(?P<key>"[^"\\]*(?:password|passwd|secret|token|access_key|private_key|signal_id)[^"\\]*"\s*:\s*)'
    r'(?P<value>"(?:[^"\\]|\\.)*")',
    re.IGNORECASE,
)
_HEADER_RE = re.compile(r"(?P<key>\b(?:X-Auth-Token|X-Subject-Token|Authorization)\s*[:=]\s*)(?P<value>\S+)",
                        re.IGNORECASE)

_MIN_SECRET_LEN = 4
_lock = threading.Lock()
_known: set[str] = set()


def remember(*values: Any) -> None:
    """Register exact secret values to be masked from now on, process-wide."""
    with _lock:
        for value in values:
            if isinstance(value, str) and len(value) >= _MIN_SECRET_LEN:
                _known.add(value)


def remember_secret_fields(mapping: Any) -> None:
    """Register the values of secret-named keys of a (nested) mapping or input list."""
    for name, value in _walk_named(mapping):
        if SECRET_NAME_RE.search(name) and isinstance(value, str):
            remember(value)


def _walk_named(node: Any, name: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        if "name" in node and "value" in node and isinstance(node["name"], str):
            yield node["name"], node["value"]
        for key, value in node.items():
            yield from _walk_named(value, str(key))
    elif isinstance(node, list):
        for value in node:
            yield from _walk_named(value, name)
    else:
        yield name, node


def redact(text: str) -> str:
    """Return ``text`` with every known secret and secret-shaped value masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _QUERY_RE.sub(lambda m: m.group("key") + MASK, text)
    text = _JSON_FIELD_RE.sub(lambda m: m.group("key") + '"' + MASK + '"', text)
    text = _HEADER_RE.sub(lambda m: m.group("key") + MASK, text)
    return text


def redact_url(url: str) -> str:
    """A URL fit for a log line: signed parameters and user info masked."""
    url = re.sub(r"//[^/@\s]+@", "//" + MASK + "@", url)
    return redact(url)


def redact_value(value: Any, scrub: Callable[[str], str] | None = None) -> Any:
    """Redact a JSON-like value for display: secret-named keys masked, and a Heat input
    (``{"name": "db_password", "value": ...}``) whose name says secret; every string scrubbed
    with ``scrub`` (default :func:`redact`)."""
    scrub = scrub or redact
    if isinstance(value, dict):
        named = value.get("name")
        secret_input = isinstance(named, str) and bool(SECRET_NAME_RE.search(named))
        out = {}
        for key, item in value.items():
            secret = isinstance(key, str) and bool(SECRET_NAME_RE.search(key)) or (secret_input and key == "value")
            out[key] = MASK if secret and item not in (None, "") and not isinstance(item, (dict, list)) \
                else redact_value(item, scrub)
        return out
    if isinstance(value, list):
        return [redact_value(item, scrub) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that renders the message and scrubs it before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
