"""What every HTTP signal transport does with an answer: 2xx delivered, else a classified error."""
from __future__ import annotations

from .. import httpclient
from ..redaction import redact_url
from . import SignalError, classify


def deliver(method: str, url: str, body: bytes, headers: dict[str, str], context) -> httpclient.Response:
    """Send one signal request; raise :class:`SignalError` unless the answer is 2xx."""
    try:
        response = httpclient.request(method, url, headers=headers, body=body,
                                      timeout=context.timeout, tls=context.tls)
    except httpclient.TransportError as err:
        raise SignalError(str(err), transient=err.transient) from None
    if 200 <= response.status < 300:
        return response
    raise SignalError(f"{method} {redact_url(url)} answered {response.status}: {response.text(300)}",
                      transient=classify(response.status), status=response.status)
