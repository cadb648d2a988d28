"""The SIGKILL loop: a chain of deployments, the agent killed at random moments and inside hooks.

Heat publishes deployment i+1 once the signal of i arrived, so one lost signal
stalls the chain; the kills show whether a restart loses, repeats or
misreports anything.
"""
from __future__ import annotations

import collections
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.agent_helpers import Agent

from ..console import Say
from .agents import AgentProcess, end_processes, log_tail, new_agent, read_record, run_counts
from .common import quiet, wait_until
from .heat import Heat

@dataclass
class Kill:
    """One SIGKILL: when, what the agent was doing, and what it left behind."""

    index: int          # the chain position that was due
    mode: str           # "hook": waited for a hook to run; "random": a random moment
    in_hook: bool = False
    unrecorded: list[str] = field(default_factory=list)  # Heat had the signal, the journal not yet


@dataclass
class SigkillFigures:
    deployments: int
    seed: int
    kills: list[Kill] = field(default_factory=list)
    crashes: int = 0                   # agent exits nobody asked for
    lost: list[str] = field(default_factory=list)
    signalled_twice: list[str] = field(default_factory=list)
    resent_after_kill: list[str] = field(default_factory=list)
    run_twice: list[str] = field(default_factory=list)
    never_ran: list[str] = field(default_factory=list)
    false_interrupted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    logs: list[Path] = field(default_factory=list)

    @property
    def kills_in_hooks(self) -> int:
        return sum(1 for k in self.kills if k.in_hook)

    @property
    def kills_in_delivery(self) -> int:
        return sum(1 for k in self.kills if k.unrecorded)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.logs, lines)


def mentions_interrupted(payload: Any) -> bool:
    """Whether a signal reported its hook as cut off (never true here: only the agent is killed)."""
    return "interrupted" in json.dumps(payload).lower()


def chain_script(ident: str, runs: Path, sleep: float) -> str:
    """Appends its id to ``runs`` (one line per run), maybe sleeps, prints something."""
    pause = f"sleep {sleep:.3f}\n" if sleep > 0 else ""
    return f"#!/bin/sh\necho {ident} >> {runs}\n{pause}echo \"deployment {ident} ran\"\n"


class Chain:
    """Heat's side of the chain: deployment i+1 is published once the signal of i arrived."""

    def __init__(self, heat: Heat, items: list[dict[str, Any]]) -> None:
        self.heat = heat
        self.items = items
        self.index = {item["id"]: n for n, item in enumerate(items)}
        self.published = 0
        self._lock = threading.Lock()
        heat.cfn.on_signal(self._on_signal)

    def start(self) -> None:
        self._publish(1)

    def _on_signal(self, received) -> None:
        position = self.index.get(received.resource[len("dep-"):])
        if position is not None:
            self._publish(position + 2)

    def _publish(self, count: int) -> None:
        with self._lock:
            count = min(count, len(self.items))
            if count > self.published:
                self.published = count
                self.heat.publish(self.items[:count])

    def signalled(self) -> int:
        """How many deployments Heat has heard of (the chain is done when all have)."""
        return sum(1 for item in self.items if self.heat.signal_count(item["id"]))


def sigkill_loop(root: Path, deployments: int = 100, kills: int = 20, seed: int | None = None,
                 time_limit: float = 300.0, say: Say = quiet) -> SigkillFigures:
    """Run the chain under ``stoker run``, SIGKILL it ``kills`` times (about half inside hooks)."""
    seed = random.randrange(2 ** 32) if seed is None else seed
    rng = random.Random(seed)
    kills = max(0, min(kills, deployments - 1))
    plan = sorted(rng.sample(range(1, deployments), kills))
    modes = ["hook"] * (kills // 2) + ["random"] * (kills - kills // 2)
    rng.shuffle(modes)
    in_hook_targets = {index for index, mode in zip(plan, modes) if mode == "hook"}
    runs = root / "runs"
    heat = Heat()
    agent = new_agent(root, heat, polling_interval=1, min_polling_interval=0.1)
    items = [heat.item(f"k{n:03d}", chain_script(f"k{n:03d}", runs, _pause(rng, n in in_hook_targets)))
             for n in range(deployments)]
    figures = SigkillFigures(deployments=deployments, seed=seed)
    chain = Chain(heat, items)
    started = time.monotonic()
    deadline = started + time_limit
    daemon: AgentProcess | None = None
    try:
        chain.start()
        daemon = AgentProcess(agent, "run")
        figures.logs.append(daemon.log)
        for index, mode in zip(plan, modes):
            daemon = _supervise_until(lambda: chain.published > index, deadline, daemon, agent, figures)
            if time.monotonic() >= deadline:
                break
            ident = items[index]["id"]
            if mode == "hook":
                _wait_inside_hook(agent, ident, runs, deadline, rng)
            else:
                time.sleep(rng.uniform(0.0, 0.4))
            figures.kills.append(_kill(agent, daemon, heat, items, index, mode, runs))
            say(f"kill {len(figures.kills)}/{kills} at deployment {index} ({mode})")
            daemon = AgentProcess(agent, "run")
            figures.logs.append(daemon.log)
        daemon = _supervise_until(lambda: chain.signalled() == deployments, deadline, daemon, agent, figures)
        time.sleep(1.0)  # a duplicate signal or a late rerun would show now
    finally:
        figures.seconds = time.monotonic() - started
        if daemon is not None:
            daemon.stop()
        end_processes(agent)
        heat.close()
    _tally(figures, heat, items, runs)
    return figures


def _pause(rng: random.Random, kill_inside: bool) -> float:
    """Hooks to be killed inside sleep long enough to be caught; the others sleep sometimes."""
    if kill_inside:
        return rng.uniform(0.25, 0.5)
    return rng.uniform(0.0, 0.5) if rng.random() < 0.5 else 0.0


def _supervise_until(done: Callable[[], bool], deadline: float, daemon: AgentProcess, agent: Agent,
                     figures: SigkillFigures) -> AgentProcess:
    """Wait for ``done``; an agent that exits by itself is counted and restarted, as systemd would."""
    while not done() and time.monotonic() < deadline:
        if not daemon.alive():
            figures.crashes += 1
            time.sleep(0.5)
            daemon = AgentProcess(agent, "run")
            figures.logs.append(daemon.log)
        time.sleep(0.005)
    return daemon


def _wait_inside_hook(agent: Agent, ident: str, runs: Path, deadline: float, rng: random.Random) -> None:
    """Until the journal says the deployment is running and its script has started.

    When it is already finished (the previous restart took longer than the hook),
    the chance is gone: the kill then lands at whatever moment this is.
    """
    def inside_or_gone() -> bool:
        state = (read_record(agent, ident) or {}).get("state")
        return state == "finished" or (state == "running" and bool(run_counts(runs)[ident]))
    wait_until(inside_or_gone, max(0.0, min(30.0, deadline - time.monotonic())), step=0.003)
    time.sleep(rng.uniform(0.0, 0.1))


def _kill(agent: Agent, daemon: AgentProcess, heat: Heat, items: list[dict[str, Any]], index: int,
          mode: str, runs: Path) -> Kill:
    """SIGKILL the agent, then read what it left: a hook running, a signal Heat has but the journal not."""
    daemon.sigkill()
    time.sleep(0.2)  # a signal already on the wire lands at the server now
    counts = run_counts(runs)
    kill = Kill(index=index, mode=mode)
    for item in items:  # those not published yet have no record
        record = read_record(agent, item["id"]) or {}
        if record.get("state") == "running" and counts[item["id"]]:
            kill.in_hook = True
        delivered = (record.get("signal") or {}).get("state") == "delivered"
        if heat.signal_count(item["id"]) and not delivered:
            kill.unrecorded.append(item["id"])
    return kill


def _tally(figures: SigkillFigures, heat: Heat, items: list[dict[str, Any]], runs: Path) -> None:
    counts = run_counts(runs)
    # At-least-once delivery: a signal Heat received just before a kill, before the agent could
    # record it, is sent again by the next agent. One such re-send is counted apart.
    excused = collections.Counter(ident for kill in figures.kills for ident in kill.unrecorded)
    for item in items:
        ident = item["id"]
        received = heat.signals(ident)
        if not received:
            figures.lost.append(ident)
        extra = len(received) - 1
        if extra > excused[ident]:
            figures.signalled_twice.append(ident)
        elif extra > 0:
            figures.resent_after_kill.append(ident)
        if counts[ident] > 1:
            figures.run_twice.append(ident)
        elif counts[ident] == 0:
            figures.never_ran.append(ident)
        if any(mentions_interrupted(s.payload) for s in received):
            figures.false_interrupted.append(ident)
