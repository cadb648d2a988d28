"""ZAQAR_SIGNAL: post the payload as a message to the deployment's Zaqar queue (docs/protocol.md, "Signals")."""
from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any, Mapping

from . import SignalError
from .http_common import deliver_with_token

MESSAGE_TTL = 600


def send(inputs: Mapping[str, Any], body: bytes, context) -> None:
    queue = inputs.get("deploy_queue_id")
    if not queue:
        raise SignalError("ZAQAR_SIGNAL needs the deploy_queue_id input", transient=False)
    path = f"/v2/queues/{urllib.parse.quote(str(queue), safe='')}/messages"
    message = json.dumps({"messages": [{"body": json.loads(body), "ttl": MESSAGE_TTL}]}).encode()
    headers = {"Content-Type": "application/json", "Client-ID": str(uuid.uuid4()),
               "X-Project-Id": str(inputs.get("deploy_project_id"))}
    deliver_with_token("POST", inputs, "messaging", lambda endpoint: endpoint + path, message, headers, context)
