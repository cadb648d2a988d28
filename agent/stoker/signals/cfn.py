"""CFN_SIGNAL: POST the payload to the pre-signed heat-api-cfn URL, exactly as Heat gave it."""
from __future__ import annotations

from typing import Any, Mapping

from . import SignalError
from .http_common import deliver


def send(inputs: Mapping[str, Any], body: bytes, context) -> None:
    url = inputs.get("deploy_signal_id")
    if not isinstance(url, str) or not url:
        raise SignalError("CFN_SIGNAL needs the deploy_signal_id input", transient=False)
    deliver("POST", url, body, {"Content-Type": "application/json"}, context)
