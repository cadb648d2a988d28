"""Signal transports: how a finished deployment's payload reaches Heat (docs/protocol.md, "Signals").

One module per transport, each with ``send(inputs, body, context)`` that
returns on delivery and raises :class:`SignalError` otherwise; the error says
whether trying again may help. The choice of transport comes from the item's
``deploy_signal_transport`` input, or, for items that lack it, from which
``deploy_*`` inputs are present, as upstream decides.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..httpclient import TLSOptions

CFN = "CFN_SIGNAL"
TEMP_URL = "TEMP_URL_SIGNAL"
HEAT = "HEAT_SIGNAL"
ZAQAR = "ZAQAR_SIGNAL"
NONE = "NO_SIGNAL"
_MODULES = {CFN: "cfn", TEMP_URL: "tempurl", HEAT: "heat", ZAQAR: "zaqar"}


class SignalError(Exception):
    """A signal was not delivered. ``transient``: worth another try later.

    ``retry_after`` is the wait in seconds the endpoint asked for (its
    ``Retry-After``) when it is overloaded or down for maintenance; None when
    it named none, so the caller's own backoff decides. Waiting as asked spares
    a recovering Heat and lets the signal go out as soon as it can take it.
    """

    def __init__(self, message: str, transient: bool, status: int | None = None, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass
class SendContext:
    """What transports share across signals: HTTP options and cached Keystone sessions."""

    timeout: float = 30.0
    tls: TLSOptions = field(default_factory=TLSOptions)
    sessions: dict[tuple, Any] = field(default_factory=dict)


def transport_of(inputs: Mapping[str, Any]) -> str:
    """The signal transport an item asks for."""
    named = inputs.get("deploy_signal_transport")
    if named in (CFN, TEMP_URL, HEAT, ZAQAR, NONE):
        return named
    if inputs.get("deploy_signal_id"):
        verb = str(inputs.get("deploy_signal_verb") or "POST").upper()
        return TEMP_URL if verb == "PUT" else CFN
    if inputs.get("deploy_auth_url"):
        return ZAQAR if inputs.get("deploy_queue_id") else HEAT
    return NONE


def send(transport: str, inputs: Mapping[str, Any], body: bytes, context: SendContext) -> None:
    """Deliver ``body`` with ``transport``; raises :class:`SignalError` when not delivered."""
    name = _MODULES.get(transport)
    if name is None:
        raise SignalError(f"unknown signal transport {transport!r}", transient=False)
    module = importlib.import_module(f"{__name__}.{name}")
    module.send(inputs, body, context)
