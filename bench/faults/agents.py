"""The agent's side of every fault scenario: configured agents, their processes, and ending them all."""
from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from tests.agent_helpers import Agent

from .heat import Heat

MARKER = "STOKER_FAULTS_RUN"  # set in every agent's environment, inherited by its hooks


def new_agent(root: Path, heat: Heat, **settings: Any) -> Agent:
    """An agent under ``root`` polling ``heat`` over cfn, with short timings and nothing of the machine read."""
    agent = Agent(root)
    agent.extra_env[MARKER] = uuid.uuid4().hex
    configure(agent, heat, **settings)
    return agent


def configure(agent: Agent, heat: Heat, **settings: Any) -> Path:
    """Write the agent's stoker.conf: the cfn transport as a fallback for a lost transport.json."""
    keys: dict[str, Any] = {
        "polling_interval": 1, "min_polling_interval": 0.1, "signal_wait": 5, "timeout": 5,
        "hook_timeout": 60, "collectors": "cfn",
        "cfn_init_data": agent.root / "absent-cfn-init-data",
        "os_collect_config": agent.root / "absent-os-collect-config.conf",
        "cfn_metadata_server": agent.root / "absent-cfn-metadata-server",
        "shell_config": agent.root / "absent-heat-config", **settings}
    lines = ["[DEFAULT]", *(f"{k} = {v}" for k, v in keys.items()), "", "[cfn]",
             *(f"{k} = {v}" for k, v in heat.collect()["cfn"].items())]
    agent.config_file = agent.root / "stoker.conf"
    agent.config_file.write_text("\n".join(lines) + "\n")
    return agent.config_file


class AgentProcess:
    """One ``stoker`` process in its own session, its stderr kept in a file (readable while it runs)."""

    def __init__(self, agent: Agent, *args: str) -> None:
        logs = agent.root / "logs"
        logs.mkdir(exist_ok=True)
        self.log = logs / f"stoker-{time.monotonic_ns()}.stderr"
        with open(self.log, "wb") as err:
            self.popen = subprocess.Popen(agent.argv(*args), env=agent.env(), cwd=agent.root,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                          start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def sigkill(self) -> None:
        """SIGKILL the agent process alone: its hooks (own process group or cgroup) live on."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, as a supervisor sends it; the exit status, None when it had to be SIGKILLed."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.sigkill()
            return None

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


class Supervisor:
    """Keeps one ``stoker run`` going as systemd's Restart=always would, counting the restarts."""

    def __init__(self, agent: Agent, logs: list[Path]) -> None:
        self.agent = agent
        self.logs = logs
        self.restarts = 0
        self.daemon = self._start()
        self.first_pid = self.daemon.pid

    def _start(self) -> AgentProcess:
        daemon = AgentProcess(self.agent, "run")
        self.logs.append(daemon.log)
        return daemon

    def check(self) -> None:
        """Restart the daemon if it exited (each restart is a crash the scenario reports)."""
        if not self.daemon.alive():
            self.restarts += 1
            time.sleep(0.5)
            self.daemon = self._start()

    def wait(self, predicate: Callable[[], Any], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.check()
            time.sleep(0.02)
        return bool(predicate())

    def stop(self) -> None:
        self.daemon.stop()


def end_processes(agent: Agent) -> int:
    """SIGKILL every process carrying this agent's marker (agents and the hooks they left); how many."""
    needle = f"{MARKER}={agent.extra_env[MARKER]}".encode() + b"\0"
    ended = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                ended += 1
    return ended


def read_record(agent: Agent, key: str) -> dict[str, Any] | None:
    """The journal record ``<state>/journal/<key>.json`` as the agent last wrote it, None if unreadable."""
    try:
        value = json.loads((agent.state / "journal" / f"{key}.json").read_bytes())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def run_counts(runs: Path) -> collections.Counter:
    """How many times each deployment's hook ran (each appends its id to ``runs``)."""
    try:
        return collections.Counter(line.strip() for line in runs.read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return collections.Counter()


def log_tail(paths: list[Path], lines: int = 40) -> str:
    """The last lines of the agents' logs, for failure messages."""
    text = []
    for path in paths:
        with contextlib.suppress(OSError):
            text += [f"[{path.name}] {line}" for line in path.read_text(errors="replace").splitlines()]
    return "\n".join(text[-lines:])
