"""TEMP_URL_SIGNAL: PUT the payload to the Swift TempURL; Heat notices the new object."""
from __future__ import annotations

from typing import Any, Mapping

from . import SignalError
from .http_common import deliver


def send(inputs: Mapping[str, Any], body: bytes, context) -> None:
    url = inputs.get("deploy_signal_id")
    if not isinstance(url, str) or not url:
        raise SignalError("TEMP_URL_SIGNAL needs the deploy_signal_id input", transient=False)
    deliver("PUT", url, body, {"Content-Type": "application/json"}, context)
