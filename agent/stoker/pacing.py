"""When the next steady poll happens: each agent on its own random phase of the interval, with jitter.

Servers started together (a stack create, a fleet rebooted at once, a package
upgrade restarting every agent) would otherwise poll in step, and Heat would
take N requests at a time, every interval. So each agent draws a phase once,
a random point within the polling interval, and makes its steady polls at
``(k + phase) x interval`` on the monotonic clock, each moved at random by at
most half the ``jitter`` fraction of the interval either way.

What this keeps of the plain interval (docs/architecture.md, "The data path"):

- the rate: one poll per interval on average, exactly, whatever a poll costs
  (a sleep after each poll would drift by the poll's own time);
- the longest wait for a change: at most one interval plus the jitter fraction (a poll moved
  early followed by one moved late: 1.1 intervals with the default 0.1);
- the first poll at start is not delayed (a first boot needs its deployments
  now); the phase takes over from the second steady poll on.

``spread = false`` and ``jitter = 0`` give back a plain sleep of one interval,
which is what tests that count intervals use; a seeded ``random.Random`` makes
the draws repeatable. The agent itself draws from ``os.urandom``: the
``random`` module would cost the idle daemon about 0.4 MB for a few numbers.
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable, Protocol


class Draws(Protocol):
    """What the clock needs of a random source (``random.Random`` has it)."""

    def random(self) -> float: ...


class SystemDraws:
    """Uniform floats in [0, 1) from the kernel's generator."""

    def random(self) -> float:
        return int.from_bytes(os.urandom(7), "big") / (1 << 56)


def uniform(low: float, high: float, draws: Draws | None = None) -> float:
    """A uniform draw in [low, high) (the start-up ``splay``)."""
    return low + (high - low) * (draws or SystemDraws()).random()


class PollClock:
    """The wait until the next steady poll of one agent."""

    def __init__(self, spread: bool = True, jitter: float = 0.1, rng: Draws | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spread = spread
        self.jitter = min(max(jitter, 0.0), 1.0)
        self.rng = rng or SystemDraws()
        self.clock = clock
        self.phase = self.rng.random() if spread else 0.0
        self._period: float | None = None
        self._last_slot: int | None = None

    def wait(self, period: float, floor: float = 0.0) -> float:
        """Seconds until the next poll at ``period``; never less than ``floor`` (the quickest poll)."""
        if period <= 0:
            return 0.0
        if not self.spread:
            return max(floor, period * (1.0 + self._offset()))
        now = self.clock()
        if period != self._period:  # Heat changed polling_interval: a new grid, same phase
            self._period, self._last_slot = period, None
        slot = math.floor(now / period - self.phase) + 1
        if self._last_slot is not None:
            slot = max(slot, self._last_slot + 1)  # one poll per slot, whatever the jitter drew
        self._last_slot = slot
        target = (slot + self.phase + self._offset()) * period
        # A slot due sooner than the floor (the quick polls after activity just ended, or the
        # jitter drew it early) is taken at the floor: later would stretch the gap past the interval.
        return max(target - now, floor)

    def _offset(self) -> float:
        """A random fraction of the period in [-jitter/2, +jitter/2]."""
        return self.jitter * (self.rng.random() - 0.5) if self.jitter else 0.0
