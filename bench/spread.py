"""The spread scenario: N stoker agents started together, one deployment published to all at once.

What fleet-friendly polling (``spread`` and ``jitter``, agent/stoker/pacing.py) is for,
measured where the publish time is exact (the loopback server, not Heat's one-second
events): the agents poll their own unchanged documents for a few intervals, then every
document gets one deployment in the same instant. Figures, for stoker's defaults and for
stoker with ``spread = false`` and ``jitter = 0`` (a plain sleep, how servers started
together poll without it):

- publish -> the last agent's poll that fetched the deployment (target: one interval);
- publish -> the last signal;
- metadata polls per bin of a fifth of the interval, busiest over mean, in the steady
  window before the publish and from the publish to the last signal (target: 1.5).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from . import documents
from .scenarios import Bench, ScenarioError, wait_until

SETTLE_INTERVALS = 4  # the quick polls after start reach the interval within three


@dataclass
class SpreadFigures:
    agents: int
    last_fetch: float
    last_signal: float
    steady_peak_to_mean: float
    update_peak_to_mean: float


def spread(bench: Bench, agents: int, spread_on: bool) -> SpreadFigures:
    """Start ``agents`` stoker agents together, publish one deployment to all, time the pick-ups."""
    server, interval = bench.server, bench.polling_interval
    name = bench.unique("spread-on" if spread_on else "spread-off")
    metas = [f"{name}-{i:03d}-metadata" for i in range(agents)]
    signals: dict[int, float] = {}
    lock = threading.Lock()
    collects = [documents.collect_settings(server.get_url(meta), interval) for meta in metas]
    for i, meta in enumerate(metas):
        server.publish(meta, documents.document(collects[i], []))

        def handler(_obj: str, _body: bytes, t: float, i: int = i) -> None:
            with lock:
                signals.setdefault(i, t)
        server.on_put(f"{name}-{i:03d}-signal", handler)
    running = []
    try:
        for i, meta in enumerate(metas):
            agent = bench.agent("stoker", f"{name}-{i:03d}", collects[i])
            if not spread_on:
                agent.conf.write_text(agent.conf.read_text().replace(
                    "[DEFAULT]\n", "[DEFAULT]\nspread = false\njitter = 0\n", 1))
            running.append(agent)
        for agent in running:
            agent.start()
        time.sleep(SETTLE_INTERVALS * interval)
        items = [documents.item(1, server.put_url(f"{name}-{i:03d}-signal")) for i in range(agents)]
        for i, meta in enumerate(metas):
            server.publish(meta, documents.document(collects[i], [items[i]]))
        published = time.monotonic()
        wait_until(lambda: len(signals) == agents, 3 * interval + 60, f"{agents} agents' signals", step=0.05)
        done = max(signals.values())
        fetches = _first_changed_fetches(server, metas, published)
        if len(fetches) < agents:
            raise ScenarioError(f"only {len(fetches)} of {agents} agents fetched the deployment")
        width = interval / 5
        polls = [r.t for meta in metas for r in server.requests(meta) if r.method == "GET"]
        return SpreadFigures(agents, max(fetches) - published, done - published,
                             _peak_to_mean(polls, published - 2 * interval, published, width),
                             _peak_to_mean(polls, published, max(done, published + interval), width))
    finally:
        for agent in running:
            agent.stop()


def _first_changed_fetches(server, metas: list[str], published: float) -> list[float]:
    """For each agent, its first GET after the publish that got the new document (200, not 304)."""
    out = []
    for meta in metas:
        got = [r.t for r in server.requests(meta) if r.method == "GET" and r.t >= published and r.status == 200]
        if got:
            out.append(got[0])
    return out


def _peak_to_mean(times: list[float], start: float, end: float, width: float) -> float:
    bins = max(1, int((end - start) // width))
    counts = [0] * bins
    for t in times:
        if start <= t < start + bins * width:
            counts[int((t - start) // width)] += 1
    mean = sum(counts) / bins
    return max(counts) / mean if mean else float("nan")
