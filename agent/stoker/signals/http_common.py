"""What every HTTP signal transport does with an answer: 2xx delivered, else a classified error.

Whether a refusal is worth another try is ``httpclient.is_transient``, the
agent's one rule (docs/protocol.md, "When Heat does not take it"); the token
transports send through ``keystone.token_request``, which logs in again once
on a 401.

A transient refusal (408, 429, 5xx) carries the answer's ``Retry-After`` as
``SignalError.retry_after``, so that the retry lands when the endpoint said it
would be back rather than whenever the backoff happens to fire.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from .. import httpclient
from ..redaction import redact_url
from . import SignalError

MAX_RETRY_AFTER = 3600.0
"""The longest wait a Retry-After may impose: a typo or a hostile proxy must not park a signal for days."""

_LONGEST_DELTA = 12
"""More digits than this is far beyond MAX_RETRY_AFTER: no need to convert them."""


def deliver(method: str, url: str, body: bytes, headers: dict[str, str], context) -> httpclient.Response:
    """Send one signal request; raise :class:`SignalError` unless the answer is 2xx."""
    try:
        response = httpclient.request(method, url, headers=headers, body=body,
                                      timeout=context.timeout, tls=context.tls)
    except httpclient.TransportError as err:
        raise SignalError(str(err), transient=err.transient) from None
    return judge(method, response)


def deliver_with_token(method: str, inputs: Mapping[str, Any], service: str, url_for: Callable[[str], str],
                       body: bytes, headers: dict[str, str], context) -> httpclient.Response:
    """:func:`deliver` to ``url_for(<service's endpoint>)`` with a token for the item's stack user.

    The session is kept in ``context.sessions`` so signals of one stack share a
    login; a service's 401 makes ``keystone.token_request`` log in again once.
    """
    from .. import keystone  # only the token transports load Keystone
    missing = keystone.missing_credentials(inputs, "deploy_")
    if missing:
        raise SignalError(f"signal needs the inputs {', '.join(missing)}", transient=False)
    session = keystone.session_from(inputs, "deploy_", timeout=context.timeout, tls=context.tls,
                                    cache=context.sessions)
    try:
        response = keystone.token_request(session, method, service, url_for, headers=headers, body=body)
    except keystone.KeystoneError as err:
        raise SignalError(f"keystone: {err}", transient=err.transient, status=err.status) from None
    except httpclient.TransportError as err:
        raise SignalError(str(err), transient=err.transient) from None
    return judge(method, response)


def judge(method: str, response: httpclient.Response) -> httpclient.Response:
    """The answer when it is 2xx, else a :class:`SignalError` that says whether to try again and when."""
    if 200 <= response.status < 300:
        return response
    transient = httpclient.is_transient(response.status)
    wait = retry_after(response.header("Retry-After")) if transient else None
    raise SignalError(f"{method} {redact_url(response.url)} answered {response.status}: {response.text(300)}",
                      transient=transient, status=response.status, retry_after=wait)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    None when absent, unparseable or in the past (the caller's backoff then
    decides); at most :data:`MAX_RETRY_AFTER`. ``now`` is the wall clock an
    HTTP-date is measured from (``time.time()`` by default).
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        seconds = float(text) if len(text) <= _LONGEST_DELTA else MAX_RETRY_AFTER
    else:
        seconds = _until(text, time.time() if now is None else now)
    if seconds is None or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _until(date: str, now: float) -> float | None:
    """Seconds from ``now`` to an HTTP-date (any of the three forms HTTP/1.1 allows); None if not a date.

    ``email.utils`` is imported here, not at the top: plain HTTP otherwise never
    loads the ``email`` package, and only an endpoint naming a date needs it.
    """
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP-dates are always GMT
        import datetime
        when = when.replace(tzinfo=datetime.timezone.utc)
    try:
        return when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
