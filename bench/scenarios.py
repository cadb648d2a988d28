"""The scenarios: each one runs stoker and the upstream chain against the same loopback server.

Every function takes a :class:`Bench` (the server, the temporary root, the
upstream install) and returns plain numbers; ``run.py`` prints them.
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

from . import documents, procstat
from .server import Loopback
from .stoker_side import StokerAgent, StokerInstall
from .upstream import UpstreamAgent, UpstreamInstall

SYSTEMS = ("stoker", "upstream")
FAST_SCRIPT_HOOK = """#!/bin/sh
# bench: stands in for the script hook while the journal is given finished deployments
cat >/dev/null
printf '{"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}\\n'
"""


class ScenarioError(RuntimeError):
    """A scenario could not produce a figure (an agent died, a signal never came)."""


@dataclass
class Bench:
    server: Loopback
    root: Path
    polling_interval: float
    stoker: StokerInstall
    upstream: UpstreamInstall | None
    say: Callable[[str], None] = print
    agents: list = field(default_factory=list)  # every agent made, so that all are stopped at the end
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self._names):03d}"  # next() on a count is atomic: rounds run in threads

    def agent(self, system: str, name: str, collect: dict):
        root = self.root / name
        ca_file = self.server.ca.ca_file if self.server.ca else None
        if system == "stoker":
            agent = StokerAgent(self.stoker, root, collect, ca_file)
        elif self.upstream is not None:
            agent = UpstreamAgent(self.upstream, root, collect, ca_file)
        else:
            raise ScenarioError("upstream is not installed")
        agent.prepare()
        self.agents.append(agent)
        return agent

    def stop_all(self) -> None:
        for agent in self.agents:
            agent.stop()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, agent=None, step: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if agent is not None and agent.process is not None and agent.process.poll() is not None:
            raise ScenarioError(f"{agent.name} exited with {agent.process.returncode} while waiting for {what}"
                                f" (log: {agent.log})")
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}"
                                + (f" (log: {agent.log})" if agent is not None else ""))
        time.sleep(step)


def settle(agent, timeout: float = 2.0) -> None:
    """Give the agent's children (a notifier reading its answer) a moment to finish before a stop."""
    deadline = time.monotonic() + timeout
    while agent.process is not None and time.monotonic() < deadline:
        if len(procstat.tree_pids(agent.process.pid)) <= 1:
            return
        time.sleep(0.02)


def count(server: Loopback, name: str, method: str = "GET") -> int:
    return sum(1 for r in server.requests(name) if r.method == method)


# ---------------------------------------------------------------- chain


@dataclass
class ChainRun:
    system: str
    seconds: float
    first_notice: float           # from the first publish to the first signal
    steps: list[float]            # signal-to-signal times for deployments 2..N
    first_poll_gap: float         # the agent's first poll to its second (its quickest idle poll)
    metadata: str = ""
    agent: object = None          # the agent, still running, when the round was asked to keep it

    def figures(self) -> dict:
        return {"system": self.system, "seconds": self.seconds, "first_notice": self.first_notice,
                "steps": self.steps, "first_poll_gap": self.first_poll_gap, "metadata": self.metadata}


def chain_round(bench: Bench, system: str, length: int, keep: bool = False) -> ChainRun:
    """N deployments, N+1 published when N's signal arrives; first publish -> last signal."""
    server = bench.server
    name = bench.unique(f"chain-{system}")
    meta = f"{name}-metadata"
    collect = documents.collect_settings(server.get_url(meta), bench.polling_interval)
    items = [documents.item(n, server.put_url(f"{name}-signal-{n}")) for n in range(1, length + 1)]
    signals: dict[int, float] = {}
    bad: list[str] = []
    done = threading.Event()

    def on_signal(n: int) -> Callable[[str, bytes, float], None]:
        def handler(_obj: str, body: bytes, t: float) -> None:
            if n in signals:
                bad.append(f"deployment {n} signalled twice")
                return
            signals[n] = t
            try:
                if json.loads(body).get("deploy_status_code") not in (0, "0"):
                    bad.append(f"deployment {n} failed: {body[:300]!r}")
            except ValueError:
                bad.append(f"deployment {n}: signal is not JSON")
            if n < length:
                server.publish(meta, documents.document(collect, items[:n + 1]))
            else:
                done.set()
        return handler

    for n in range(1, length + 1):
        server.on_put(f"{name}-signal-{n}", on_signal(n))
    server.publish(meta, documents.document(collect, []))
    agent = bench.agent(system, name, collect)
    agent.start()
    try:
        wait_until(lambda: count(server, meta) >= 1, 60, f"{system}'s first poll", agent)
        server.publish(meta, documents.document(collect, items[:1]))
        t0 = time.monotonic()
        limit = 60 + length * (bench.polling_interval + 30)
        wait_until(done.is_set, limit, f"{system}'s chain of {length}", agent, step=0.01)
        if bad:
            raise ScenarioError(f"{system}: " + "; ".join(bad[:3]))
        gets = [r.t for r in server.requests(meta) if r.method == "GET"]
        times = [signals[n] for n in range(1, length + 1)]
        run = ChainRun(system, times[-1] - t0, times[0] - t0,
                       [b - a for a, b in zip(times, times[1:])],
                       gets[1] - gets[0] if len(gets) > 1 else float("nan"), metadata=meta)
    except BaseException:
        agent.stop()
        raise
    if keep:
        run.agent = agent
    else:
        settle(agent)
        agent.stop()
    return run


def chain(bench: Bench, system: str, rounds: int, length: int, concurrent: bool = False,
          keep_last: bool = False) -> list[ChainRun]:
    """``rounds`` chain rounds; upstream's may run side by side (they sleep between polls)."""
    if not concurrent or rounds == 1:
        runs = []
        for i in range(rounds):
            runs.append(chain_round(bench, system, length, keep=keep_last and i == rounds - 1))
            bench.say(f"  {system} chain round {i + 1}/{rounds}: {runs[-1].seconds:.2f}s")
        return runs
    results: list[ChainRun | BaseException] = [None] * rounds  # type: ignore[list-item]

    def one(i: int) -> None:
        try:
            results[i] = chain_round(bench, system, length, keep=keep_last and i == rounds - 1)
            bench.say(f"  {system} chain round {i + 1}/{rounds}: {results[i].seconds:.2f}s")
        except BaseException as err:  # noqa: BLE001 - reported below
            results[i] = err

    threads = []
    for i in range(rounds):
        threads.append(threading.Thread(target=one, args=(i,), daemon=True))
        threads[-1].start()
        time.sleep(bench.polling_interval / rounds)  # stagger, so the rounds' dispatches rarely coincide
    for thread in threads:
        thread.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for r in results:
            if isinstance(r, ChainRun) and r.agent is not None:
                r.agent.stop()
        raise errors[0]
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------- first deployment


def first_deployment(bench: Bench, system: str) -> float:
    """From process start to the first signal, with one deployment already published."""
    server = bench.server
    name = bench.unique(f"first-{system}")
    meta = f"{name}-metadata"
    collect = documents.collect_settings(server.get_url(meta), bench.polling_interval)
    got: dict[str, float] = {}
    done = threading.Event()
    server.on_put(f"{name}-signal", lambda _o, _b, t: (got.setdefault("t", t), done.set()))
    server.publish(meta, documents.document(collect, [documents.item(1, server.put_url(f"{name}-signal"))]))
    agent = bench.agent(system, name, collect)
    t0 = time.monotonic()
    agent.start()
    try:
        wait_until(done.is_set, 120, f"{system}'s first signal", agent)
        settle(agent)
    finally:
        agent.stop()
    return got["t"] - t0


def hook_time(bench: Bench, system: str, rounds: int = 5) -> float:
    """Wall time of the system's own script hook run alone on one deployment (start-up included)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"hook-{system}-", dir=bench.root))
    item = documents.item(1, None)
    env = dict(os.environ)
    env.update(HEAT_SCRIPT_WORKING=str(scratch / "working"), HEAT_SCRIPT_OUTPUTS=str(scratch / "outputs"))
    if system == "stoker":
        hook = bench.stoker.hooks_dir() / "script"  # the hook stoker runs for group "script"
        env["PATH"] = os.pathsep.join([str(bench.stoker.bin), env.get("PATH", "/usr/bin:/bin")])
    else:
        if bench.upstream is None:
            raise ScenarioError("upstream is not installed")
        hook = bench.upstream.element / "hooks" / "script"
        env["PATH"] = os.pathsep.join([str(bench.upstream.bin), env.get("PATH", "/usr/bin:/bin")])
    times = []
    for _ in range(rounds):
        item["id"] = f"hook-{len(times)}-{os.getpid()}"
        t0 = time.monotonic()
        proc = subprocess.run([str(hook)], input=json.dumps(item).encode(), env=env, cwd=scratch,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times.append(time.monotonic() - t0)
        if proc.returncode or json.loads(proc.stdout).get("deploy_status_code") != 0:
            raise ScenarioError(f"{system}'s script hook failed: {proc.stderr[-300:]!r}")
    shutil.rmtree(scratch, ignore_errors=True)
    return median(times)


# ---------------------------------------------------------------- floor


def round_trips(bench: Bench, document: dict, rounds: int = 20) -> tuple[float, float]:
    """Median loopback GET of ``document`` and PUT of a signal-sized body, on a kept connection.

    An ideal poller keeps its connection, as stoker does (upstream's requests too): a new
    connection per request would put a TCP, and over HTTPS a TLS, handshake into the floor
    (about 44 ms each over TLS, more than the hook).
    """
    server = bench.server
    tls = server.ca.client_context() if server.ca else None
    name = bench.unique("floor")
    server.publish(f"{name}-metadata", document)
    body = json.dumps({"deploy_stdout": "step 1\n", "deploy_stderr": "", "deploy_status_code": 0,
                       "result": "done\n"}).encode()

    def timed(method: str, url: str, payload: bytes | None) -> list[float]:
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=10, context=tls)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        times = []
        try:
            for _ in range(rounds + 1):  # the first one opens the connection: not counted
                t0 = time.monotonic()
                conn.request(method, target, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
                times.append(time.monotonic() - t0)
                if response.status >= 300:
                    raise ScenarioError(f"loopback {method} answered {response.status}")
        finally:
            conn.close()
        return times[1:]

    gets = timed("GET", server.get_url(f"{name}-metadata"), None)
    puts = timed("PUT", server.put_url(f"{name}-signal"), body)
    return median(gets), median(puts)


# ---------------------------------------------------------------- idle


@dataclass
class IdleFigures:
    rss: int
    pss: int
    requests_per_minute: float
    bytes_per_minute: float
    polls_per_minute: float


def idle(bench: Bench, agents: dict[str, tuple[object, str]], seconds: float) -> dict[str, IdleFigures]:
    """Watch the long-running agents poll their unchanged documents for ``seconds``, side by side."""
    server = bench.server
    start = time.monotonic()
    time.sleep(seconds)
    end = time.monotonic()
    out = {}
    for system, (agent, meta) in agents.items():
        if agent.process is None or agent.process.poll() is not None:
            raise ScenarioError(f"{system} is not running any more (log: {agent.log})")
        window = [r for r in server.requests(meta) if start <= r.t < end]
        minutes = (end - start) / 60
        pid = agent.process.pid
        out[system] = IdleFigures(procstat.tree_rss(pid), procstat.tree_pss(pid), len(window) / minutes,
                                  sum(r.wire for r in window) / minutes,
                                  sum(1 for r in window if r.method == "GET") / minutes)
    return out


# ---------------------------------------------------------------- scale


@dataclass
class ScaleFigures:
    finished: int
    cpu_per_poll: float
    polls: int
    document_bytes: int
    new_deployment: float  # one more deployment in that document: the poll that fetched it -> its signal


def scale(bench: Bench, sizes: list[int], seconds: float, interval: float = 1.0,
          systems: tuple[str, ...] = SYSTEMS) -> dict[str, list[ScaleFigures]]:
    """CPU time per poll of an unchanged document holding ``size`` finished deployments."""
    out: dict[str, list[ScaleFigures]] = {s: [] for s in systems}
    for size in sizes:
        server = bench.server
        running = {}
        try:
            for system in systems:
                name = bench.unique(f"scale{size}-{system}")
                meta = f"{name}-metadata"
                collect = documents.collect_settings(server.get_url(meta), interval)
                items = [documents.item(n, server.put_url(f"{name}-signal")) for n in range(1, size + 1)]
                doc = documents.document(collect, items)
                agent = bench.agent(system, name, collect)
                if system == "stoker":
                    hook = agent.hooks / "script"
                    hook.write_text(FAST_SCRIPT_HOOK)
                    hook.chmod(0o755)
                    applied = agent.apply(doc)
                    if applied.returncode != 0:
                        raise ScenarioError(f"stoker apply of {size} deployments failed ({applied.returncode}): "
                                            f"{applied.stdout[-500:]!r}")
                    hook.unlink()  # from now on nothing may run: a poll must find nothing new
                else:
                    agent.mark_finished(items)
                server.publish(meta, doc)
                agent.start()
                running[system] = (agent, meta, name, collect, items)
            # warm up: the first poll handles the document (upstream re-renders it), then polls are quiet
            for system, (agent, meta, *_) in running.items():
                wait_until(lambda: count(server, meta) >= 3, 120, f"{system}'s third poll", agent, step=0.05)
            marks = {s: (procstat.tree_cpu(r[0].process.pid), count(server, r[1])) for s, r in running.items()}
            time.sleep(seconds)
            measured = {}
            for system, (agent, meta, *_) in running.items():
                cpu0, polls0 = marks[system]
                polls = count(server, meta) - polls0
                cpu = procstat.tree_cpu(agent.process.pid) - cpu0
                if polls <= 0:
                    raise ScenarioError(f"{system} did not poll while measured (log: {agent.log})")
                if system == "stoker" and len(agent.deployed_ids()) != size:
                    raise ScenarioError(f"stoker ran {len(agent.deployed_ids())} of {size} deployments")
                measured[system] = (cpu / polls, polls)
            for system, (agent, meta, name, collect, items) in running.items():
                # one at a time, so that neither slows the other down
                latency = _one_more(bench, agent, meta, name, collect, items)
                out[system].append(ScaleFigures(size, *measured[system],
                                                len(json.dumps(documents.document(collect, items))), latency))
        finally:
            for agent, *_ in running.values():
                agent.stop()
    return out


def _one_more(bench: Bench, agent, meta: str, name: str, collect: dict, items: list[dict]) -> float:
    """Publish one new deployment after ``items``; seconds from the poll that fetched it to its signal.

    Timed from that poll (the first GET answered 200 after the publish), not from the
    publish, so that where the publish fell in the polling interval does not count.
    """
    got: dict[str, float] = {}
    done = threading.Event()
    bench.server.on_put(f"{name}-new", lambda _o, _b, t: (got.setdefault("t", t), done.set()))
    new = documents.item(len(items) + 1, bench.server.put_url(f"{name}-new"))
    bench.server.publish(meta, documents.document(collect, items + [new]))
    t0 = time.monotonic()
    wait_until(done.is_set, 300, f"{agent.name}'s signal for one more deployment", agent, step=0.01)
    fetched = [r.t for r in bench.server.requests(meta) if r.method == "GET" and r.status == 200 and r.t >= t0]
    if not fetched:
        raise ScenarioError(f"{agent.name} signalled a deployment it never fetched")
    return got["t"] - fetched[0]
