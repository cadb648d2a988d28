"""The cloud's side of the fleet benchmark: the real-Heat harness, its request counts and CPU.

The harness (tests/heat) runs Keystone, Swift and Heat (engine and both APIs in one
process) on loopback. This module only reads it: which services answer, the log lines
each request leaves (followed live, so every request gets the time it was seen), and
the CPU time of each service's process tree from /proc.

A request is one line: ``wsgi ...`` in heat.log (heat-api and heat-api-cfn), a
gunicorn access line in keystone.log, a client line (``swift_proxy: 127.0.0.1 ...``,
not an internal sub-request) in swift-proxy.log.
"""
from __future__ import annotations

import bisect
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.heat import install, provision, services
from tests.heat.client import HeatClient
from tests.heat.layout import Layout

from ..procstat import tree_cpu

SERVICES = ("heat", "keystone", "swift-proxy")
REQUEST_LINE = {
    "heat": re.compile(r"^wsgi \S+ \"[A-Z]+ "),
    "keystone": re.compile(r"^\S+ - \S+ \[[^]]+\] \"[A-Z]+ "),
    "swift-proxy": re.compile(r"^swift_proxy: \d+\.\d+\.\d+\.\d+ "),
}
POLL_PERIOD = 0.2


@dataclass
class LogTail:
    """Follows one service's log from now on; the monotonic time each request line was seen."""

    path: Path
    pattern: re.Pattern
    times: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _offset: int = 0
    _partial: str = ""

    def __post_init__(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def read(self) -> None:
        try:
            with open(self.path, "rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except OSError:
            return
        self._offset += len(chunk)
        now = time.monotonic()
        text = self._partial + chunk.decode("utf-8", "replace")
        *complete, self._partial = text.split("\n")
        for line in complete:
            if self.pattern.match(line):
                self.times.append(now)
                self.lines.append(line)

    def count(self, start: float, end: float) -> int:
        """Requests seen in [start, end)."""
        return bisect.bisect_left(self.times, end) - bisect.bisect_left(self.times, start)


class Cloud:
    """The harness as the benchmark uses it: up, logged in, counted."""

    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        self.started_here = False
        self.tails: dict[str, LogTail] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_up(self, say) -> None:
        """Install, set up and start the harness unless it already runs (then leave it running)."""
        if all(up for _name, _pid, up, _rss in services.status(self.lay)):
            say(f"using the running Heat harness in {self.lay.root}")
            return
        say(f"starting the Heat harness in {self.lay.root} (base port {self.lay.base_port or 'usual'}) ...")
        install.install(self.lay)
        provision.setup(self.lay)
        services.start(self.lay)
        self.started_here = True

    def client(self) -> HeatClient:
        return HeatClient.login(self.lay, "demo")

    def follow(self) -> None:
        """Start counting requests (from each log's current end)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.tails = {name: LogTail(self.lay.logfile(name), REQUEST_LINE[name]) for name in SERVICES}
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="log-tail", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_PERIOD):
            for tail in self.tails.values():
                tail.read()

    def flush(self) -> None:
        """Read what the logs hold now (call after the window, before counting)."""
        time.sleep(POLL_PERIOD * 2)
        for tail in self.tails.values():
            tail.read()

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each service's process tree."""
        out = {}
        for name in SERVICES:
            pid = services.read_pid(self.lay, name)
            out[name] = tree_cpu(pid) if pid else float("nan")
        return out

    def close(self, stop_harness: bool) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if stop_harness and self.started_here:
            services.stop(self.lay)
