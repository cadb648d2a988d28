"""HEAT_SIGNAL: POST the payload to the deployment's resource signal in Heat's native API."""
from __future__ import annotations

import urllib.parse
from typing import Any, Mapping

from . import SignalError
from .http_common import deliver
from .keystone_auth import token_and_endpoint


def send(inputs: Mapping[str, Any], body: bytes, context) -> None:
    stack, resource = inputs.get("deploy_stack_id"), inputs.get("deploy_resource_name")
    if not stack or not resource:
        raise SignalError("HEAT_SIGNAL needs deploy_stack_id and deploy_resource_name", transient=False)
    session, token, endpoint = token_and_endpoint(inputs, "orchestration", context)
    url = f"{endpoint}/stacks/{_path(stack)}/resources/{_path(resource)}/signal"
    headers = {"Content-Type": "application/json", "X-Auth-Token": token}
    try:
        deliver("POST", url, body, headers, context)
    except SignalError as err:
        if err.status != 401:
            raise
        session.invalidate()  # the token expired early or was revoked: one fresh try
        headers["X-Auth-Token"] = session.token()
        deliver("POST", url, body, headers, context)


def _path(value: Any) -> str:
    """Quote a path part; a stack id keeps its ``name/uuid`` slash."""
    return urllib.parse.quote(str(value), safe="/")
