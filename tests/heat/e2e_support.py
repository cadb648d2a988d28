"""Support for the end-to-end tests: templates/ stacks on the real Heat, stoker as each server's agent.

A scenario goes the way a template author's would:

1. create a stack from ``templates/servers.yaml`` (OS::Heat::DeployedServer, Heat boots
   nothing) with the polling transport under test;
2. for each server, write what Heat's user-data would leave on it: the server's metadata
   (with its ``os-collect-config`` key) as the ``cfn-init-data`` file, and start
   ``stoker run`` with a config file under the test's tmp_path. From then on the agent
   knows only what that metadata holds (the stack user's credentials, TempURLs, signed
   URLs): no admin token, no test token;
3. create the deployment stack from the template under test with ``server=<id>`` and
   assert on Heat's view of it.

Teardown deletes the deployment stacks while the agents still run (a DELETE action needs
its agent), then stops the agents, then deletes the servers.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from .client import HeatClient, Stack
from .layout import REPO
from .rest import expect, request

TEMPLATES = REPO / "templates"
FAKES = REPO / "tests" / "fakes"
AGENT_SOURCE = REPO / "agent"
POLLING = ["POLL_SERVER_CFN", "POLL_SERVER_HEAT", "POLL_TEMP_URL"]
SIGNALS = ["CFN_SIGNAL", "HEAT_SIGNAL", "TEMP_URL_SIGNAL"]
WAIT = 90.0


def template(name: str) -> str:
    """The text of templates/<name>."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@dataclass
class Server:
    """One DeployedServer: its id, where its resource lives, and its metadata."""

    id: str
    name: str
    stack_url: str  # the (possibly nested) stack the resource belongs to

    def metadata(self, client: HeatClient) -> dict:
        return expect("GET", f"{self.stack_url}/resources/{self.name}/metadata",
                      token=client.token).json()["metadata"]


def find_servers(client: HeatClient, stack: Stack) -> list[Server]:
    """The DeployedServers of a stack and of its nested stacks, in index order."""
    found = client.call("GET", f"{stack.path}/resources?nested_depth=3").json()["resources"]
    servers = []
    for res in found:
        if res["resource_type"] != "OS::Heat::DeployedServer":
            continue
        link = next(lnk["href"] for lnk in res["links"] if lnk["rel"] == "stack")
        servers.append(Server(res["physical_resource_id"], res["resource_name"], link))
    return sorted(servers, key=lambda s: (len(s.name), s.name))


def bootstrap_metadata(client: HeatClient, server: Server, timeout: float = 60.0) -> dict:
    """The server's metadata once Heat has written its os-collect-config key (user-data's view)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = server.metadata(client)
        occ = doc.get("os-collect-config") or {}
        if any(isinstance(occ.get(k), dict) and any(occ[k].values())
               for k in TRANSPORT_SECTIONS.values()):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"no os-collect-config in {server.name}'s metadata: {doc}")
        time.sleep(0.5)


class Agent:
    """``stoker run`` as one server's agent, everything under its own directory."""

    def __init__(self, root: Path, metadata: dict, hook_env: dict[str, str] | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "hooks").mkdir(exist_ok=True)  # no upstream hook dirs of this machine
        self.config = root / "stoker.conf"
        self.log_path = root / "agent.log"
        (root / "cfn-init-data").write_text(json.dumps(metadata), encoding="utf-8")
        env = {
            "HEAT_SCRIPT_WORKING": root / "script-working",
            "HEAT_SCRIPT_OUTPUTS": root / "script-outputs",
            "HEAT_PUPPET_WORKING": root / "puppet-working",
            "HEAT_PUPPET_OUTPUTS": root / "puppet-outputs",
            "HEAT_PUPPET_HIERA_DATADIR": root / "hieradata",
            "HEAT_PUPPET_LOGDIR": root / "puppet-logs",
            "STOKER_PUPPET_DEBUG_LOGDIR": root / "puppet-logs",
            "HEAT_HIERA_CONFIG": root / "hiera.yaml",
            "HEAT_SALT_WORKING": root / "salt-working",
            "HEAT_SALT_OUTPUTS": root / "salt-outputs",
            "HEAT_APPLY_CONFIG_WORKING": root / "apply-config-working",
            "HEAT_CHEF_WORKING": root / "chef-working",
            "HEAT_CHEF_OUTPUTS": root / "chef-outputs",
            "HEAT_ANSIBLE_WORKING": root / "ansible-working",
            "HEAT_ANSIBLE_OUTPUTS": root / "ansible-outputs",
            **(hook_env or {}),
        }
        lines = [
            "[DEFAULT]",
            f"state_dir = {root / 'state'}",
            f"deployed_dir = {root / 'deployed'}",
            f"hooks_dir = {root / 'hooks'}",
            f"shell_config = {root / 'heat-config'}",
            f"cfn_init_data = {root / 'cfn-init-data'}",
            f"cfn_metadata_server = {root / 'cfn-metadata-server'}",
            f"os_collect_config = {root / 'no-os-collect-config.conf'}",
            "polling_interval = 2",
            "min_polling_interval = 0.5",
            "hook_timeout = 120",
            "signal_wait = 30",
            "memory_limit = 0",
            "log_level = debug",
            "",
            "[hook_environment]",
            *(f"{key} = {value}" for key, value in env.items()),
        ]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.process: subprocess.Popen | None = None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HEAT_", "STOKER_", "OS_"))}
        env["PYTHONPATH"] = str(AGENT_SOURCE)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "stoker", "--config", str(self.config), *args]

    def start(self) -> "Agent":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command("run"), stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, cwd=self.root, env=self._env())
        log.close()
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def status(self) -> list[dict]:
        """``stoker status --json``: what the agent recorded."""
        out = subprocess.run(self.command("status", "--json"), capture_output=True, text=True,
                             env=self._env(), timeout=30)
        doc = json.loads(out.stdout or "[]")
        return doc.get("deployments", doc) if isinstance(doc, dict) else doc


@dataclass
class Scenario:
    """Stacks and agents of one test, cleaned up in the right order."""

    client: HeatClient
    tmp_path: Path
    server_stacks: list[Stack] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)

    def servers(self, transport: str, count: int = 1, hook_env: dict[str, str] | None = None
                ) -> list[tuple[Server, Agent]]:
        """Create DeployedServers with `transport` and start one agent per server."""
        body = {"stack_name": unique("srv"), "template": template("servers.yaml"),
                "parameters": {"software_config_transport": transport, "count": count},
                "timeout_mins": 10}
        stack = Stack(body["stack_name"], post_stack(self.client, body))
        self.server_stacks.append(stack)
        self.client.wait_stack(stack, "CREATE_COMPLETE", timeout=WAIT)
        found = find_servers(self.client, stack)
        assert len(found) == count, found
        return [(server, self.agent_for(server, transport, hook_env)) for server in found]

    def agent_for(self, server: Server, transport: str,
                  hook_env: dict[str, str] | None = None) -> Agent:
        """Start the agent of one server, from its metadata as user-data would leave it."""
        metadata = bootstrap_metadata(self.client, server)
        assert transport_section(metadata) == TRANSPORT_SECTIONS[transport]
        agent = Agent(self.tmp_path / f"agent-{len(self.agents)}", metadata, hook_env).start()
        self.agents.append(agent)
        return agent

    def server(self, transport: str, hook_env: dict[str, str] | None = None) -> tuple[Server, Agent]:
        return self.servers(transport, 1, hook_env)[0]

    def create(self, name: str, parameters: dict[str, Any], files: dict | None = None,
               environment: dict | None = None, timeout_mins: int = 10) -> Stack:
        """Create a stack from templates/<name> (returns at once, IN_PROGRESS).

        `timeout_mins` bounds each stack action, delete included: a DELETE that nobody
        signals fails after it.
        """
        body = {"stack_name": unique(name.split(".")[0].replace("_", "-")),
                "template": template(name), "parameters": parameters,
                "environment": environment or {}, "files": files or {},
                "timeout_mins": timeout_mins}
        stack = Stack(body["stack_name"], post_stack(self.client, body))
        self.stacks.append(stack)
        return stack

    def wait(self, stack: Stack, *wanted: str, timeout: float = WAIT) -> dict:
        """Wait for a stack status; on failure, the message carries the agents' logs."""
        try:
            return self.client.wait_stack(stack, *wanted, timeout=timeout)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.agent_logs()}") from None

    def delete(self, stack: Stack, timeout: float = WAIT) -> None:
        self.client.delete(stack)
        try:
            self.client.wait_deleted(stack, timeout=timeout)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.agent_logs()}") from None
        if stack in self.stacks:
            self.stacks.remove(stack)

    def agent_logs(self, tail: int = 60) -> str:
        parts = []
        for agent in self.agents:
            lines = agent.log().splitlines()[-tail:]
            parts.append(f"--- {agent.root.name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def cleanup(self) -> None:
        for stack in reversed(self.stacks):
            try:
                self.client.delete(stack)
            except Exception:  # noqa: BLE001 - best effort, keep cleaning
                pass
        for stack in reversed(self.stacks):
            try:
                self.client.wait_deleted(stack, timeout=60)
            except Exception:  # noqa: BLE001
                pass
        for agent in self.agents:
            agent.stop()
        for stack in self.server_stacks:
            try:
                self.client.delete(stack)
            except Exception:  # noqa: BLE001
                pass
        for stack in self.server_stacks:
            try:
                self.client.wait_deleted(stack, timeout=60)
            except Exception:  # noqa: BLE001
                pass


def post_stack(client: HeatClient, body: dict) -> str:
    """POST /stacks; the stack's id.

    Retried once on a bare 403: the harness's Heat (engine and APIs in one process) now
    and then creates the stack's trust with another request's domain-scoped token, and
    Keystone refuses it ("identity:create_trust ... request was made with domain scope").
    """
    for attempt in range(3):
        resp = request("POST", f"{client.url}/stacks", body=body, token=client.token)
        if resp.status != 403 or attempt == 2:
            break
        time.sleep(1)
    if resp.status != 201:
        raise AssertionError(f"POST stacks {body['stack_name']}: {resp.status} {resp.text[:500]}")
    return resp.json()["stack"]["id"]


TRANSPORT_SECTIONS = {"POLL_SERVER_CFN": "cfn", "POLL_SERVER_HEAT": "heat",
                      "POLL_TEMP_URL": "request", "ZAQAR_MESSAGE": "zaqar"}


def transport_section(metadata: dict) -> str:
    """Which transport section of os-collect-config Heat filled in."""
    occ = metadata.get("os-collect-config") or {}
    filled = [k for k in TRANSPORT_SECTIONS.values()
              if isinstance(occ.get(k), dict) and any(v for v in occ[k].values())]
    assert len(filled) == 1, occ
    return filled[0]


def reasons(client: HeatClient, stack: Stack) -> str:
    return "\n".join(client.reasons(stack))


@pytest.fixture
def scenario(heat_client: HeatClient, tmp_path: Path) -> Iterator[Scenario]:
    """One test's stacks and agents; cleaned up (deployments first, agents, servers) afterwards."""
    sc = Scenario(heat_client, tmp_path)
    try:
        yield sc
    finally:
        sc.cleanup()
