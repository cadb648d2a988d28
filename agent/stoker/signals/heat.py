"""HEAT_SIGNAL: POST the payload to the deployment's resource signal in Heat's native API."""
from __future__ import annotations

import urllib.parse
from typing import Any, Mapping

from . import SignalError
from .http_common import deliver_with_token


def send(inputs: Mapping[str, Any], body: bytes, context) -> None:
    stack, resource = inputs.get("deploy_stack_id"), inputs.get("deploy_resource_name")
    if not stack or not resource:
        raise SignalError("HEAT_SIGNAL needs deploy_stack_id and deploy_resource_name", transient=False)
    path = f"/stacks/{_path(stack)}/resources/{_path(resource)}/signal"
    deliver_with_token("POST", inputs, "orchestration", lambda endpoint: endpoint + path, body,
                       {"Content-Type": "application/json"}, context)


def _path(value: Any) -> str:
    """Quote a path part; a stack id keeps its ``name/uuid`` slash."""
    return urllib.parse.quote(str(value), safe="/")
