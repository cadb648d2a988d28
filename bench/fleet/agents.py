"""One agent per DeployedServer, all on this machine, each under its own directory.

A server's agent starts from what Heat's user-data would leave on it: the server's
metadata with its ``os-collect-config`` key (the stack user's credentials, the
signed URL or TempURL). stoker gets it as its ``cfn-init-data`` file; the upstream
chain gets ``os-collect-config.conf`` rendered from that key by its own
os-apply-config templates, as a first boot would (bench/upstream.py). Both then
follow what Heat publishes, polling at the ``polling_interval`` the stack wrote into
the key.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ..procstat import tree_pss, tree_rss
from ..stoker_side import StokerAgent, StokerInstall
from ..upstream import DaemonSide, UpstreamAgent, UpstreamInstall

STARTERS = 4  # agents prepared and started at once (upstream's render is a process of its own)


class FleetStoker(StokerAgent):
    """``stoker run`` bootstrapped from the server's metadata (its cfn-init-data), defaults otherwise."""

    def __init__(self, install: StokerInstall, root: Path, metadata: dict) -> None:
        super().__init__(install, root, metadata.get("os-collect-config") or {})
        self.metadata = metadata

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.hooks.mkdir(parents=True, exist_ok=True)
        (self.root / "cfn-init-data").write_text(json.dumps(self.metadata))
        lines = [
            "# written by bench/fleet: stoker's defaults, except that every file stays under this",
            "# directory; the metadata source comes from cfn-init-data, as on a booted server",
            "[DEFAULT]",
            *self.own_files(),
            "",
            *self.hook_environment(),
        ]
        self.conf.write_text("\n".join(lines))


class FleetUpstream(UpstreamAgent):
    """The upstream chain for one server, its os-collect-config.conf rendered from the metadata's key.

    Heat lists the ``local`` collector beside the transport, and os-collect-config's
    local collector dies restoring a ``C.UTF-8`` locale this machine's C library does not
    have (``locale.Error: unsupported locale setting``), taking the agent with it. A
    server has its locales; here the chain runs with ``LC_ALL=C`` instead.
    """

    def env(self) -> dict[str, str]:
        return {**super().env(), "LC_ALL": "C"}


def upstream_agent(install: UpstreamInstall, root: Path, metadata: dict) -> UpstreamAgent:
    root.mkdir(parents=True, exist_ok=True)
    return FleetUpstream(install, root, metadata.get("os-collect-config") or {})


class Fleet:
    """The agents of one system, started as their servers appear, stopped together."""

    def __init__(self, make: Callable[[Path, dict], DaemonSide], root: Path) -> None:
        self.make = make
        self.root = root
        self.agents: dict[str, DaemonSide] = {}
        self.errors: list[str] = []
        self._pool = ThreadPoolExecutor(STARTERS, thread_name_prefix="agent-start")
        self._pending: list = []

    def start(self, server_id: str, transport: str, metadata: dict) -> None:
        """Prepare and start the agent of one server (in the background)."""
        if server_id in self.agents:
            return
        agent = self.make(self.root / f"{transport}-{len(self.agents):03d}", metadata)
        self.agents[server_id] = agent
        self._pending.append(self._pool.submit(self._launch, agent))

    def _launch(self, agent: DaemonSide) -> None:
        try:
            agent.prepare()
            agent.start()
        except Exception as err:  # noqa: BLE001 - reported with the figures, the run goes on
            self.errors.append(f"{agent.root.name}: {err}")

    def wait_started(self) -> None:
        for future in self._pending:
            future.result()
        self._pending.clear()

    def dead(self) -> list[str]:
        """The agents whose process has exited (none should, until stopped)."""
        return [a.root.name for a in self.agents.values() if a.process is not None and a.process.poll() is not None]

    def running(self) -> int:
        return sum(1 for a in self.agents.values() if a.process is not None and a.process.poll() is None)

    def memory(self) -> tuple[int, int]:
        """Resident memory (RSS, PSS) of every agent's process tree, summed."""
        pids = [a.process.pid for a in self.agents.values() if a.process is not None and a.process.poll() is None]
        return sum(tree_rss(p) for p in pids), sum(tree_pss(p) for p in pids)

    def log_tails(self, lines: int = 15, agents: int = 3) -> str:
        out = []
        for agent in list(self.agents.values())[:agents]:
            try:
                text = agent.log.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                text = ["(no log)"]
            out.append(f"--- {agent.root.name} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        self.wait_started()
        self._pool.shutdown(wait=True)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda a: a.stop(), self.agents.values()))
