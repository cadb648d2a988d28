"""Heat-shaped metadata for the image tier, served by the loopback heat-api-cfn.

The agent inside the image must find everything the way it would on a real server: a
first-boot ``cfn-init-data`` naming the cfn endpoint, a metadata document with deployment
items (Heat's own inputs appended, a pre-signed signal URL per deployment), and signals
going back to that endpoint. This module builds those documents; the tests say what
each deployment does.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

from tests.loopback.cfn import CfnServer

STACK = "image-test"
SERVER = "server"


@dataclass
class Stack:
    """One stack on the loopback cfn server with one server whose metadata we publish."""

    cfn: CfnServer
    name: str = STACK
    server: str = SERVER
    deployments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stack = self.cfn.add_stack(self.name)
        self.cred = self.cfn.add_credentials(stack=self.name)

    def collect_config(self, **extra: Any) -> dict[str, Any]:
        """The ``os-collect-config`` key Heat writes for POLL_SERVER_CFN (docs/protocol.md, "Where to poll")."""
        return {"collectors": ["cfn"], **extra,
                "cfn": {"metadata_url": self.cfn.metadata_url(), "access_key_id": self.cred.access,
                        "secret_access_key": self.cred.secret, "stack_name": self.name,
                        "path": f"{self.server}.Metadata"},
                # A transport that is not in use, as Heat leaves it: every value null.
                "request": {"metadata_url": None}}

    def cfn_init_data(self, **extra: Any) -> str:
        """What Heat's user-data writes to /var/lib/heat-cfntools/cfn-init-data at first boot."""
        return json.dumps({"os-collect-config": self.collect_config(**extra), "deployments": []})

    def add(self, resource: str, group: str, config: Any, inputs: dict[str, Any] | None = None,
            outputs: list[str] = (), action: str = "CREATE", options: dict[str, Any] | None = None) -> str:
        """Append a deployment item as Heat derives it and return its id; call publish() after."""
        ident = str(uuid.uuid4())
        heat_inputs = {"deploy_server_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.server)),
                       "deploy_action": action, "deploy_stack_id": f"{self.name}/{self.stack.id}",
                       "deploy_resource_name": resource, "deploy_signal_transport": "CFN_SIGNAL",
                       "deploy_signal_id": self.cfn.make_signal_url(self.name, resource),
                       "deploy_signal_verb": "POST"}
        self.deployments.append({
            "id": ident, "name": resource, "group": group, "config": config,
            "creation_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "options": options,
            "inputs": [{"name": k, "value": v, "type": "String", "description": ""}
                       for k, v in {**(inputs or {}), **heat_inputs}.items()],
            "outputs": [{"name": n, "type": "String", "error_output": False} for n in outputs],
        })
        return ident

    def publish(self, **extra: Any) -> None:
        """Put the metadata (transport settings plus the items, sorted by name as Heat does) online."""
        items = sorted(self.deployments, key=lambda item: item["name"])
        self.cfn.set_metadata(self.name, self.server,
                              {"os-collect-config": self.collect_config(**extra), "deployments": items})

    def signals(self) -> dict[str, Any]:
        """The payloads received so far, by deployment resource name."""
        return {s.resource: s.payload for s in self.cfn.signals if s.stack == self.name}


def script_config(marker: str) -> str:
    """A script deployment: proves inputs arrive as variables and outputs come back."""
    return f"""#!/bin/sh
set -e
echo "script says $greeting" > {marker}
printf 'hello %s' "$greeting" > "$heat_outputs_path.result"
echo "script ran"
"""


def puppet_config(marker: str) -> str:
    """A puppet deployment: a real ``puppet apply`` with a fact from the inputs and an output."""
    return f"""
file {{ "{marker}": content => "puppet says ${{::greeting}}\\n" }}
file {{ "${{::heat_outputs_path}}.result": content => "puppet ${{::deploy_action}}" }}
"""


def component_config(create_marker: str, delete_marker: str) -> dict[str, Any]:
    """A SoftwareComponent: the entry for the item's deploy_action is the one that runs."""
    return {"configs": [
        {"actions": ["CREATE", "UPDATE"], "tool": "script",
         "config": f"#!/bin/sh\necho \"component $deploy_action\" > {create_marker}\n"},
        {"actions": ["DELETE"], "tool": "script",
         "config": f"#!/bin/sh\necho deleted > {delete_marker}\n"},
    ]}


# The part handler Heat's user-data carries for its own part types (the image does not
# have it; Heat sends it). This one is the tests' own: it writes each x-cfninitdata part
# into /var/lib/heat-cfntools under the part's file name, private to root.
CFN_INIT_PART_HANDLER = '''#part-handler
import os

TARGET = "/var/lib/heat-cfntools"


def list_types():
    return ["text/x-cfninitdata"]


def handle_part(data, ctype, filename, payload):
    if ctype in ("__begin__", "__end__"):
        return
    os.makedirs(TARGET, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(TARGET, os.path.basename(filename)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(payload)
'''


def heat_user_data(cfn_init_data: str) -> bytes:
    """User-data shaped like Heat's for ``user_data_format: SOFTWARE_CONFIG`` (docs/protocol.md, "First boot").

    A MIME multipart that cloud-init unpacks at first boot: a part handler, then the
    ``cfn-init-data`` part it handles, which ends up as /var/lib/heat-cfntools/cfn-init-data.
    """
    message = MIMEMultipart()
    for content, subtype, filename in ((CFN_INIT_PART_HANDLER, "part-handler", "part-handler.py"),
                                       (cfn_init_data, "x-cfninitdata", "cfn-init-data")):
        part = MIMEText(content, subtype, "utf-8")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        message.attach(part)
    return message.as_bytes()
