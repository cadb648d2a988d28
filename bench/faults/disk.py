"""The full disk: the agent's state on a small tmpfs filled to the brim, a hook printing megabytes.

A full disk must end in a failure signal that names it, not in a crash loop,
and the next deployment must succeed once space is back.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tests.agent_helpers import Agent

from ..console import Say
from .agents import Supervisor, end_processes, log_tail, new_agent, run_counts
from .common import MIB, ScenarioError, Unavailable, quiet
from .heat import Heat

@dataclass
class FullDiskFigures:
    signal_received: bool = False
    failure_code: int | None = None
    failure_stderr: str = ""
    says_disk_full: bool = False
    daemon_restarts: int = 0
    pid_unchanged: bool = False
    recovered: bool = False
    recovery_seconds: float | None = None
    after_code: int | None = None
    big_runs: int = 0
    big_signals: int = 0
    logs: list[Path] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.logs, lines)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the block; always unmounted afterwards."""
    if os.geteuid() != 0:
        raise Unavailable("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        raise Unavailable("there is no mount command")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        raise Unavailable(f"cannot mount a tmpfs at {where}: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(path: Path, leave: int) -> int:
    """Write a filler file so that only about ``leave`` bytes stay free on its file system."""
    stat = os.statvfs(path.parent)
    size = max(0, stat.f_bavail * stat.f_frsize - leave)
    chunk = b"\xa5" * MIB
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            left -= handle.write(chunk[: min(left, len(chunk))])
        handle.flush()
        os.fsync(handle.fileno())
    return size


def full_disk(root: Path, leave: int = 128 * 1024, output_bytes: int = 2 * MIB, size: str = "4m",
              say: Say = quiet) -> FullDiskFigures:
    """State, deployed, working and outputs dirs on a small tmpfs, filled; a hook printing megabytes.

    Raises :class:`Unavailable` where no tmpfs can be mounted (not root).
    """
    figures = FullDiskFigures()
    heat = Heat()
    disk = root / "disk"
    runs = root / "runs"
    try:
        with small_tmpfs(disk, size):
            agent = new_agent(root, heat)
            agent.state, agent.deployed = disk / "state", disk / "deployed"
            agent.working, agent.outputs = disk / "script-working", disk / "script-outputs"
            try:
                _full_disk_steps(agent, heat, disk, runs, leave, output_bytes, figures, say)
            finally:
                end_processes(agent)
    finally:
        heat.close()
    return figures


def _full_disk_steps(agent: Agent, heat: Heat, disk: Path, runs: Path, leave: int, output_bytes: int,
                     figures: FullDiskFigures, say: Say) -> None:
    """Warm up on a roomy disk, fill it, deploy the big printer, free the space, deploy once more."""
    warm = heat.item("warm", f"#!/bin/sh\necho warm >> {runs}\necho warm\n")
    big = heat.item("big", f"#!/bin/sh\necho big >> {runs}\nhead -c {output_bytes} /dev/zero | tr '\\0' x\n"
                           "echo\necho 'big output printed' >&2\n")
    after = heat.item("after", f"#!/bin/sh\necho after >> {runs}\necho space is back\n")
    heat.publish([warm])
    supervisor = Supervisor(agent, figures.logs)
    try:
        if not supervisor.wait(lambda: heat.signal_count("warm"), 30):
            raise ScenarioError("the agent never signalled the first, ordinary deployment (before the disk "
                                f"was filled):\n{figures.log_tail()}")
        filled = fill(disk / "filler", leave)
        say(f"filled the tmpfs with {filled / MIB:.1f} MiB, {leave // 1024} KiB left; publishing a hook "
            f"that prints {output_bytes / MIB:.0f} MB")
        heat.publish([warm, big])
        figures.signal_received = supervisor.wait(lambda: heat.signal_count("big"), 60)
        time.sleep(1.0)  # a crash right after the signal would show now
        supervisor.check()
        if figures.signal_received:
            payload = heat.signals("big")[0].payload or {}
            figures.failure_code = payload.get("deploy_status_code")
            figures.failure_stderr = str(payload.get("deploy_stderr", ""))
            figures.says_disk_full = "disk is full" in figures.failure_stderr.lower()
        (disk / "filler").unlink()
        space_back = time.monotonic()
        heat.publish([warm, big, after])
        figures.recovered = supervisor.wait(lambda: heat.signal_count("after"), 60)
        if figures.recovered:
            figures.recovery_seconds = time.monotonic() - space_back
            figures.after_code = (heat.signals("after")[0].payload or {}).get("deploy_status_code")
        time.sleep(0.5)
        supervisor.check()
        figures.daemon_restarts = supervisor.restarts
        figures.pid_unchanged = supervisor.restarts == 0 and supervisor.daemon.pid == supervisor.first_pid
    finally:
        supervisor.stop()
    figures.big_runs = run_counts(runs)["big"]
    figures.big_signals = heat.signal_count("big")
