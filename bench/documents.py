"""The metadata documents the scenarios publish: what Heat would put in the server's TempURL object."""
from __future__ import annotations

import time
import uuid
from typing import Iterable

STACK = "bench-stack/6f1c2b8e-0000-4000-8000-000000000001"
SERVER_ID = "6f1c2b8e-0000-4000-8000-0000000000aa"

# The config every benchmark deployment runs: a shell script that does almost nothing,
# so that the figures show the agents' own costs, not the configs'.
SCRIPT = "#!/bin/sh\necho \"step ${step}\"\necho done > \"${heat_outputs_path}.result\"\n"


def collect_settings(metadata_url: str, polling_interval: float | None) -> dict:
    """The ``os-collect-config`` key Heat writes for ``software_config_transport: POLL_TEMP_URL``.

    Heat lists ``["ec2", "request", "local"]``; the benchmark lists only ``request``
    so that neither agent looks at the EC2 metadata address or the host's local-data
    directory (stoker ignores ``ec2`` anyway; upstream would poll 169.254.169.254).
    ``polling_interval`` is the key a template author adds; both agents obey it.
    """
    settings: dict = {"collectors": ["request"], "request": {"metadata_url": metadata_url}}
    if polling_interval:
        settings["polling_interval"] = _number(polling_interval)
    return settings


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def item(n: int, signal_url: str | None, *, name: str | None = None, config: str = SCRIPT) -> dict:
    """One derived config as Heat sends it (docs/protocol.md, "Deployments"), signalled by TEMP_URL_SIGNAL."""
    inputs = [
        {"name": "step", "value": str(n), "type": "String", "description": "the step number"},
        {"name": "deploy_server_id", "value": SERVER_ID, "type": "String"},
        {"name": "deploy_action", "value": "CREATE", "type": "String"},
        {"name": "deploy_stack_id", "value": STACK, "type": "String"},
        {"name": "deploy_resource_name", "value": f"deployment_{n:04d}", "type": "String"},
    ]
    if signal_url:
        inputs += [
            {"name": "deploy_signal_transport", "value": "TEMP_URL_SIGNAL", "type": "String"},
            {"name": "deploy_signal_id", "value": signal_url, "type": "String"},
            {"name": "deploy_signal_verb", "value": "PUT", "type": "String"},
        ]
    else:
        inputs.append({"name": "deploy_signal_transport", "value": "NO_SIGNAL", "type": "String"})
    return {
        "id": str(uuid.uuid4()),
        "name": name or f"{n:04d}_step",
        "group": "script",
        "creation_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config,
        "options": {},
        "inputs": inputs,
        "outputs": [{"name": "result", "type": "String", "description": "", "error_output": False}],
    }


def document(collect: dict, items: Iterable[dict]) -> dict:
    return {"os-collect-config": collect, "deployments": list(items)}
