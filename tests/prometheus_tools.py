"""The real Prometheus tools the metrics tests check stoker's file with (Debian packages).

``prometheus-node-exporter`` serves the file through its textfile collector on a free
loopback port, with its other collectors off; ``promtool check metrics`` lints it.
Both come from tests/setup.d/10-apt.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

NODE_EXPORTER = "prometheus-node-exporter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def promtool_check(path: Path) -> subprocess.CompletedProcess:
    """``promtool check metrics`` over the file: exit 0 and no lint lines when it is clean."""
    with open(path, "rb") as handle:
        return subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], stdin=handle,
                              capture_output=True, text=True, timeout=60)


class NodeExporter:
    """A node_exporter serving only the textfile collector over ``directory``."""

    def __init__(self, directory: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self._log = open(log, "wb")
        self.process = subprocess.Popen(
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.port}", "--collector.disable-defaults",
             "--collector.textfile", f"--collector.textfile.directory={directory}"],
            stdout=self._log, stderr=subprocess.STDOUT)

    def scrape(self, timeout: float = 20.0) -> str:
        """The /metrics page, waiting for the exporter to listen."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as answer:
                    return answer.read().decode()
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def node_exporter(directory: Path, log: Path) -> Iterator[NodeExporter]:
    exporter = NodeExporter(directory, log)
    try:
        yield exporter
    finally:
        exporter.stop()


def samples(text: str, prefix: str = "") -> dict[str, float]:
    """``name{labels}`` -> value for the sample lines whose name starts with ``prefix``."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and line.startswith(prefix):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
