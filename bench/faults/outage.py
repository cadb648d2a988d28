"""The signal outage: the signal endpoint answers 503 for a while; how long after it recovers the signal lands.

Heat's API going away (an upgrade, a failover) is ordinary; what matters is
that the signal still arrives exactly once, and soon once the API is back,
rather than after a backoff that grew during the outage. :class:`Outage` is
the driver the benchmark and ``tests/faults/test_signal_outage.py`` share;
what the agent does while it lasts (one daemon, or restarts) is the caller's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..console import Say
from .agents import AgentProcess, end_processes, new_agent
from .common import quiet, wait_until
from .heat import Heat


class Outage:
    """One deployment's signal refused from :meth:`begin` to :meth:`end`, timed on the clock the
    loopback server stamps signals with (this process's monotonic clock)."""

    def __init__(self, heat: Heat, item: dict[str, Any]) -> None:
        self.heat = heat
        self.item = item
        self.ident: str = item["id"]
        self.began = 0.0

    def begin(self) -> None:
        """From now on every signal of the item is answered 503."""
        self.heat.refuse_signals(self.ident, self.item)
        self.began = time.monotonic()

    def sleep_until(self, seconds: float) -> None:
        """Sleep until ``seconds`` after :meth:`begin` (at once if that is past)."""
        time.sleep(max(0.0, self.began + seconds - time.monotonic()))

    def end(self, timeout: float = 330, settle: float = 1.0) -> float | None:
        """The endpoint answers again: seconds until the signal landed, None when not within ``timeout``.

        The default ``timeout`` outlasts even an uncapped five-minute backoff, so a slow
        delivery is measured rather than cut off; ``settle`` more seconds let a duplicate show.
        """
        self.heat.accept_signals()
        back = time.monotonic()
        delay = None
        if wait_until(lambda: self.heat.signal_count(self.ident), timeout, step=0.05):
            delay = self.heat.signals(self.ident)[0].monotonic - back
        time.sleep(settle)
        return delay


@dataclass
class OutageFigures:
    outage: float
    delay: float | None = None     # from the endpoint answering again to the signal's arrival
    signals: int = 0


def signal_outage(root: Path, outage: float = 120.0, say: Say = quiet) -> OutageFigures:
    """One ``stoker run`` through an outage of ``outage`` seconds; the delay and the signals Heat got."""
    heat = Heat()
    agent = new_agent(root, heat)
    figures = OutageFigures(outage=outage)
    down = Outage(heat, heat.item("outage", f"#!/bin/sh\necho outage >> {root / 'runs'}\necho hello\n"))
    down.begin()
    heat.publish([down.item])
    daemon = AgentProcess(agent, "run")
    try:
        down.sleep_until(outage)
        say(f"the signal endpoint answers again after {outage:.0f}s")
        figures.delay = down.end()
        figures.signals = heat.signal_count("outage")
    finally:
        daemon.stop()
        end_processes(agent)
        heat.close()
    return figures
