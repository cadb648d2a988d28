"""``python -m bench faults``: stoker under faults, as figures, from the same drivers the tests use.

The acceptance tests in ``tests/faults/`` and this report run the very same
scenario code, so a figure printed here is the figure the tests assert on:

* the SIGKILL loop: a chain of deployments published the way Heat publishes
  them (deployment i+1 once the signal of i arrived), the agent SIGKILLed at
  random moments and inside hooks, restarted each time;
* the full disk: the agent's state on a small tmpfs filled to the brim, a
  deployment printing megabytes, then space coming back;
* the damaged-state matrix: each state file damaged in each way, then every
  command run over it;
* the signal outage: how long after the endpoint answers again the signal
  arrives.

Everything talks to a loopback heat-api-cfn (``tests/loopback/cfn.py``) on
127.0.0.1; the agent is the ``stoker`` of the Python running this (the test
venv). Every process a scenario starts carries a marker in its environment,
so that clean-up ends exactly those (hooks included, which live in their own
process groups) and nothing else.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.agent_helpers import Agent  # noqa: E402
from tests.loopback.cfn import CfnServer  # noqa: E402

from .console import Say, close_run, progress, publish  # noqa: E402

STACK = "faults-stack"
SERVER = "server"
MARKER = "STOKER_FAULTS_RUN"  # set in every agent's environment, inherited by its hooks
EXIT_CODES = range(0, 7)  # the documented table of stoker's exit codes
MIB = 1024 * 1024



class ScenarioError(RuntimeError):
    """The scenario itself could not be set up (not a figure about the agent)."""


class Unavailable(ScenarioError):
    """The scenario cannot run on this machine (e.g. not root, no tmpfs)."""


def _quiet(_message: str) -> None:
    pass


# ================================================================== Heat's side

class Heat:
    """What Heat does for one server: a heat-api-cfn serving its metadata and taking CFN signals."""

    def __init__(self) -> None:
        self.cfn = CfnServer().start()
        self.cfn.add_stack(STACK)
        self.credential = self.cfn.add_credentials(stack=STACK)
        self.items: list[dict[str, Any]] = []

    def close(self) -> None:
        self.cfn.stop()

    def collect(self) -> dict[str, Any]:
        """The ``os-collect-config`` key Heat writes for POLL_SERVER_CFN."""
        return {"collectors": ["cfn"],
                "cfn": {"metadata_url": self.cfn.metadata_url(), "access_key_id": self.credential.access,
                        "secret_access_key": self.credential.secret, "stack_name": STACK,
                        "path": f"{SERVER}.Metadata"}}

    def item(self, ident: str, script: str) -> dict[str, Any]:
        """A ``group: script`` deployment whose signal goes to this server (CFN_SIGNAL)."""
        resource = resource_of(ident)
        values = {"deploy_server_id": "9f2c7a10-0000-4000-8000-000000000001", "deploy_action": "CREATE",
                  "deploy_stack_id": f"{STACK}/0", "deploy_resource_name": resource,
                  "deploy_signal_transport": "CFN_SIGNAL",
                  "deploy_signal_id": self.cfn.make_signal_url(STACK, resource), "deploy_signal_verb": "POST"}
        return {"id": ident, "name": ident, "group": "script", "creation_time": "2024-01-01T00:00:00Z",
                "config": script, "options": None, "outputs": None,
                "inputs": [{"name": k, "value": v, "type": "String"} for k, v in values.items()]}

    def document(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"os-collect-config": self.collect(), "deployments": list(items)}

    def publish(self, items: list[dict[str, Any]]) -> None:
        """Make these the server's deployments (what Heat does when a deployment is created)."""
        self.items = list(items)
        self.cfn.set_metadata(STACK, SERVER, self.document(items))

    def signals(self, ident: str) -> list:
        return [s for s in self.cfn.signals if s.resource == resource_of(ident)]

    def signal_count(self, ident: str) -> int:
        return len(self.signals(ident))

    def refuse_signals(self, ident: str, item: dict[str, Any]) -> None:
        """Answer 503 to every signal of ``ident`` until :meth:`accept_signals`."""
        url = next(i["value"] for i in item["inputs"] if i["name"] == "deploy_signal_id")
        self.cfn.fail_next(503, count=None, method="POST", path=urllib.parse.urlsplit(url).path)

    def accept_signals(self) -> None:
        self.cfn.faults.clear()

    def polls(self) -> int:
        return len(self.cfn.requests_matching("GET", "/v1/"))


def resource_of(ident: str) -> str:
    return f"dep-{ident}"


# ================================================================== the agent's side

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


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


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


def mentions_interrupted(payload: Any) -> bool:
    return "interrupted" in json.dumps(payload).lower()


# ================================================================== A. the SIGKILL loop

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
                 time_limit: float = 300.0, say: Say = _quiet) -> SigkillFigures:
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


# ================================================================== B. the full disk

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


def full_disk(root: Path, leave: int = 128 * 1024, output_bytes: int = 2 * MIB, size: str = "4m",
              say: Say = _quiet) -> FullDiskFigures:
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


# ================================================================== C. the damaged-state matrix

FILES = ("record", "item", "notify", "transport", "rerun", "lock", "status")
KINDS = ("empty", "truncated", "garbage", "wrong-shape", "deleted")
FILE_DESCRIPTIONS = {
    "record": "journal/d3.json (the journal record of a deployment whose signal is pending)",
    "item": "deployed/d3.json (the item as Heat sent it, needed to signal)",
    "notify": "deployed/d3.notify.json (the payload still to be signalled)",
    "transport": "transport.json (where to poll, learned from Heat)",
    "rerun": "rerun/d1 (an operator's request to run d1 again)",
    "lock": "lock (the state lock, holding the last holder's pid)",
    "status": "work/d4/status (the exit status the hook wrapper kept for a hook that finished while "
              "no agent ran)",
}
GARBAGE = b"\xff\xfe\x00\x80\xc3\x28stoker\x9f\x92\x96 not utf-8 \xe2\x28\xa1\x00\xff"
RECORD_VICTIM, ITEM_VICTIM, RERUN_VICTIM, STATUS_VICTIM = "d3", "d3", "d1", "d4"
DAMAGE_WORDS = ("damaged", "damage", "corrupt", "unreadable")
ALREADY_DELIVERED = ("d1", "d2")


@dataclass
class Command:
    args: list[str]
    code: int | None
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        return self.code not in EXIT_CODES or "Traceback" in self.stderr or "Traceback" in self.stdout

    def describe(self) -> str:
        return (f"$ stoker {' '.join(self.args)}  -> exit {self.code}\n"
                f"  stderr: {self.stderr.strip()[-1500:] or '(empty)'}")


@dataclass
class CaseResult:
    """What the commands did over one damaged file, and what each check made of it."""

    file: str
    kind: str
    path: str = ""
    damaged: bytes | None = None
    commands: list[Command] = field(default_factory=list)
    status: dict[str, Any] | None = None    # the last ``stoker status --json``
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    kept_aside: bool = False                # the damaged bytes are in <state>/quarantine/
    reruns: dict[str, int] = field(default_factory=dict)
    allowed_reruns: dict[str, int] = field(default_factory=dict)
    new_signals: dict[str, list[Any]] = field(default_factory=dict)
    polled: int = 0                         # metadata requests during the commands
    must_report: bool = True
    problems: list[str] = field(default_factory=list)   # unmet "reported" expectations
    note: str = ""

    @property
    def survived(self) -> bool:
        return bool(self.commands) and not any(c.crashed for c in self.commands) and self.status is not None

    @property
    def reported(self) -> bool:
        return not self.problems

    @property
    def unexpected_reruns(self) -> dict[str, int]:
        return {k: n for k, n in self.reruns.items() if n > self.allowed_reruns.get(k, 0)}

    @property
    def signalled_again(self) -> dict[str, int]:
        """Deployments Heat had already heard of (d1, d2) that were signalled again without running again."""
        return {k: len(self.new_signals.get(k, [])) for k in ALREADY_DELIVERED
                if len(self.new_signals.get(k, [])) > self.reruns.get(k, 0)}

    def crashes(self) -> str:
        return "\n".join(c.describe() for c in self.commands if c.crashed) or "(none)"

    def transcript(self) -> str:
        return "\n".join(c.describe() for c in self.commands)


def damage(kind: str, original: bytes, file: str) -> bytes | None:
    """The damaged content of a state file (None: delete it)."""
    if kind == "empty":
        return b""
    if kind == "truncated":
        return original[: len(original) // 2]
    if kind == "garbage":
        return GARBAGE
    if kind == "wrong-shape":
        return _wrong_shape(original, file)
    if kind == "deleted":
        return None
    raise ValueError(f"unknown kind of damage {kind!r}")


def _wrong_shape(original: bytes, file: str) -> bytes:
    """Valid JSON of the wrong type: for a record, its own fields with the wrong types; else a list."""
    if file == "record":
        record = json.loads(original)
        record.update({"state": ["finished"], "status_code": "zero", "ok": "yes", "started_at": "noon",
                       "signal": "delivered"})
        return json.dumps(record).encode()
    return b'["not", "what", "stoker writes", 1]'


class DamageWorld:
    """A state where deployments ran (one signal pending), rebuilt from a template for every case.

    The template is copied back to the same path each time, so whatever absolute
    paths the agent keeps in its state stay true. Templates are built on first use:
    ``base`` (d1, d2 delivered; d3 pending because the endpoint refused with 503),
    and ``running`` (the same plus d4, whose hook finished after the agent was SIGKILLed).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.world = root / "world"
        self.heat = Heat()
        self.items = {ident: self.heat.item(ident, self._script(ident)) for ident in ("d1", "d2", "d3")}
        self.items["d4"] = self.heat.item("d4", self._script("d4", started=True))
        self.templates: dict[str, Path] = {}
        self.marker = uuid.uuid4().hex

    def close(self) -> None:
        self.heat.close()

    # -- the agent and its files

    def agent(self) -> Agent:
        agent = Agent(self.world)
        agent.extra_env[MARKER] = self.marker
        agent.config_file = self.world / "stoker.conf"
        return agent

    @property
    def runs(self) -> Path:
        return self.world / "runs"

    def _script(self, ident: str, started: bool = False) -> str:
        runs = self.root / "world" / "runs"
        wait = f"touch {self.root / 'world' / (ident + '.started')}\nsleep 1\n" if started else ""
        return f"#!/bin/sh\necho {ident} >> {runs}\n{wait}echo \"hello from {ident}\"\n"

    def path_of(self, agent: Agent, file: str) -> Path:
        return {"record": agent.state / "journal" / f"{RECORD_VICTIM}.json",
                "item": agent.deployed / f"{ITEM_VICTIM}.json",
                "notify": agent.deployed / f"{ITEM_VICTIM}.notify.json",
                "transport": agent.state / "transport.json",
                "rerun": agent.state / "rerun" / RERUN_VICTIM,
                "lock": agent.state / "lock",
                "status": agent.state / "work" / STATUS_VICTIM / "status"}[file]

    def document(self, file: str) -> list[dict[str, Any]]:
        names = ("d1", "d2", "d3", "d4") if file == "status" else ("d1", "d2", "d3")
        return [self.items[n] for n in names]

    # -- templates

    def template(self, name: str) -> Path:
        if name not in self.templates:
            build = {"base": self._build_base, "running": self._build_running}[name]
            try:
                build()
            finally:
                end_processes(self.agent())
                self.heat.accept_signals()
            target = self.root / f"template-{name}"
            shutil.rmtree(target, ignore_errors=True)
            self.world.rename(target)
            self.templates[name] = target
        return self.templates[name]

    def _reset(self, template: Path | None) -> Agent:
        shutil.rmtree(self.world, ignore_errors=True)
        if template is None:
            self.world.mkdir(parents=True)
        else:
            shutil.copytree(template, self.world, symlinks=True)
        agent = self.agent()
        if template is None:
            configure(agent, self.heat)
        return agent

    def _build_base(self) -> None:
        agent = self._reset(None)
        self.heat.publish(self.document("base"))
        self.heat.refuse_signals("d3", self.items["d3"])
        once = agent.run("run", "--once", "--signal-wait", "3", timeout=120)
        records = {k: read_record(agent, k) or {} for k in ("d1", "d2", "d3")}
        states = {k: (r.get("state"), (r.get("signal") or {}).get("state")) for k, r in records.items()}
        wanted = {"d1": ("finished", "delivered"), "d2": ("finished", "delivered"), "d3": ("finished", "pending")}
        if states != wanted or not (agent.state / "transport.json").exists():
            raise ScenarioError(f"setting up the damaged-state cases: 'stoker run --once' should leave d1 and d2 "
                                f"delivered, d3 pending and transport.json written; it left {states} "
                                f"(exit {once.returncode}):\n{once.stderr[-3000:]}")

    def _build_running(self) -> None:
        agent = self._reset(self.template("base"))
        self.heat.publish(self.document("status"))
        self.heat.refuse_signals("d3", self.items["d3"])
        daemon = AgentProcess(agent, "run")
        started = self.world / "d4.started"
        try:
            inside = wait_until(lambda: started.exists() and (read_record(agent, "d4") or {}).get("state")
                                == "running", 30)
            if not inside:
                raise ScenarioError(f"setting up the hook-status cases: d4's hook never ran under 'stoker run':\n"
                                    f"{daemon.stderr[-3000:]}")
        finally:
            daemon.sigkill()
        status = self.path_of(agent, "status")
        if not wait_until(status.exists, 15, step=0.05):
            raise ScenarioError(f"setting up the hook-status cases: the agent was SIGKILLed while d4's hook ran, "
                                f"the hook then finished, but there is no {status.relative_to(self.world)}: "
                                f"the hook wrapper that keeps a hook's exit status beside its output "
                                f"(<state>/work/<key>/status) is missing. Files under work/: "
                                f"{_listing(agent.state / 'work')}")
        time.sleep(0.2)

    # -- one case

    def run_case(self, file: str, kind: str) -> CaseResult:
        result = CaseResult(file=file, kind=kind)
        agent = self._reset(self.template("running" if file == "status" else "base"))
        try:
            self._run_case(agent, result)
        finally:
            end_processes(agent)
        return result

    def _run_case(self, agent: Agent, result: CaseResult) -> None:
        file, kind = result.file, result.kind
        if file == "rerun":
            request_rerun_behind_a_lock(agent, RERUN_VICTIM)
        path = self.path_of(agent, file)
        result.path = str(path.relative_to(self.world))
        if not path.exists():
            raise ScenarioError(f"the set-up left no {result.path} to damage (files: {_listing(path.parent)})")
        original = path.read_bytes()
        result.damaged = damage(kind, original, file)
        if result.damaged is None:
            path.unlink()
        else:
            path.write_bytes(result.damaged)
        self.heat.publish(self.document(file))  # what Heat serves now: exactly this case's deployments
        runs_before = run_counts(self.runs)
        signals_before = {k: self.heat.signal_count(k) for k in self.items}
        polls_before = self.heat.polls()
        document = str(agent.write_document(self.heat.document(self.document(file)), "case.json"))
        for args in (["status"], ["status", "--json"], ["apply", document, "--signal-wait", "5"],
                     ["run", "--once", "--signal-wait", "5"], ["run", "--once", "--signal-wait", "2"],
                     ["status", "--json"]):
            result.commands.append(_command(agent, args))
        result.status = _json(result.commands[-1].stdout)
        runs_after = run_counts(self.runs)
        result.reruns = {k: runs_after[k] - runs_before[k] for k in runs_after if runs_after[k] > runs_before[k]}
        result.new_signals = {k: [s.payload for s in self.heat.signals(k)[signals_before[k]:]] for k in self.items}
        result.polled = self.heat.polls() - polls_before
        _judge(agent, result, original)


def request_rerun_behind_a_lock(agent: Agent, ident: str) -> None:
    """``stoker rerun`` while another process holds the state: the request stays on disk."""
    lock = agent.state / "lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        done = agent.run("rerun", ident)
    finally:
        os.close(fd)
    if done.returncode != 0 or not (agent.state / "rerun" / ident).exists():
        raise ScenarioError(f"'stoker rerun {ident}' behind a held lock left no rerun/{ident} "
                            f"(exit {done.returncode}):\n{done.stderr}")


def _command(agent: Agent, args: list[str]) -> Command:
    try:
        done = agent.run(*args, timeout=90)
    except subprocess.TimeoutExpired as err:
        return Command(args, None, "", f"(did not finish within {err.timeout:.0f}s)")
    return Command(args, done.returncode, done.stdout, done.stderr)


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _listing(directory: Path) -> str:
    try:
        return ", ".join(sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))) or "(none)"
    except OSError:
        return "(no such directory)"


# -- the expectations of each case

def _judge(agent: Agent, result: CaseResult, original: bytes) -> None:
    """Fill in what was expected of this case and which expectations were not met."""
    quarantine = agent.state / "quarantine"
    listed = (result.status or {}).get("quarantined")
    result.quarantined = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    result.kept_aside = result.damaged is not None and _aside(quarantine, result.damaged)
    if result.kind == "deleted":
        _judge_deleted(result)
        return
    judge = {"record": _judge_record, "item": _judge_plain, "notify": _judge_plain,
             "transport": _judge_transport, "rerun": _judge_rerun, "lock": _judge_lock,
             "status": _judge_status}[result.file]
    judge(result, original)


def _aside(quarantine: Path, damaged: bytes) -> bool:
    """Whether some file under ``quarantine`` holds exactly the damaged bytes."""
    if not quarantine.is_dir():
        return False
    for path in quarantine.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_size == len(damaged) and path.read_bytes() == damaged:
                return True
    return False


def _listed(result: CaseResult) -> bool:
    name = Path(result.path).name
    return any(str(e.get("file", "")).endswith(name) and str(e.get("reason", "")).strip()
               for e in result.quarantined)


def _expect_quarantine(result: CaseResult) -> None:
    if not result.kept_aside:
        result.problems.append(f"the damaged {result.path} was not moved to <state>/quarantine/")
    if not _listed(result):
        result.problems.append(f"'stoker status --json' does not list {result.path} under \"quarantined\" "
                               f"(with a file and a reason); it has {result.quarantined!r}")


def _judge_plain(result: CaseResult, _original: bytes) -> None:
    _expect_quarantine(result)


def _judge_record(result: CaseResult, original: bytes) -> None:
    _expect_quarantine(result)
    sent = result.new_signals.get(RECORD_VICTIM, [])
    failures = [p for p in sent if isinstance(p, dict) and p.get("deploy_status_code") not in (0, None)
                and any(w in str(p.get("deploy_stderr", "")).lower() for w in DAMAGE_WORDS)]
    if len(failures) != 1 or len(sent) != 1:
        result.problems.append(f"Heat should get exactly one new failure signal for {RECORD_VICTIM} whose "
                               f"deploy_stderr says its record was damaged; it got {len(sent)}: "
                               f"{[_brief(p) for p in sent]}")


def _judge_transport(result: CaseResult, _original: bytes) -> None:
    _expect_quarantine(result)
    once = [c for c in result.commands if c.args[:2] == ["run", "--once"]]
    if result.polled == 0 or any(c.code == 6 for c in once):
        result.problems.append("with transport.json damaged, 'stoker run --once' should fall back to the config "
                               f"file's [cfn] section and poll; it polled {result.polled} times, exits "
                               f"{[c.code for c in once]}")


def _judge_rerun(result: CaseResult, original: bytes) -> None:
    """A damaged rerun request is either honoured (the deployment runs once more, as the operator
    asked) or set aside as damaged (then it must not run again); nothing else."""
    honoured = result.reruns.get(RERUN_VICTIM, 0) == 1
    result.allowed_reruns = {RERUN_VICTIM: 1} if honoured else {}
    if result.damaged == original:
        result.must_report = False
        result.note = "the damaged content equals what stoker writes, so this is a valid request"
        if not honoured:
            result.problems.append(f"a valid rerun request for {RERUN_VICTIM} was not honoured")
        return
    if honoured:
        result.must_report = False
        result.note = "the request was honoured as a request: the deployment ran once more"
    else:
        _expect_quarantine(result)


def _judge_lock(result: CaseResult, _original: bytes) -> None:
    # The lock's content is advisory (the last holder's pid) and rewritten by every holder; moving
    # the file aside could even let two agents hold "the" lock at once. Surviving is what counts.
    result.must_report = False
    result.note = "the lock's content is advisory: surviving is what counts"


def _judge_status(result: CaseResult, _original: bytes) -> None:
    damaged = (result.damaged or b"").strip()
    if result.kind == "truncated" and damaged.isdigit():
        # Half of "137" is "13": a shorter number cannot be told from a real exit status.
        result.must_report = False
        result.note = "the truncated status still reads as an exit status: undetectable"
    else:
        _expect_quarantine(result)
    _expect_one_signal(result, STATUS_VICTIM)


def _judge_deleted(result: CaseResult) -> None:
    result.must_report = False
    if result.file == "record":
        # The record is the agent's memory that the deployment ran: deleted, the id looks new and the
        # agent may run it once more (it does today, and signals that run's result).
        result.allowed_reruns = {RECORD_VICTIM: 1}
        result.note = "a deleted record is forgotten memory: running the deployment again is allowed"
    elif result.file == "rerun":
        result.note = "a deleted rerun request is no request"
    if result.file == "status":
        _expect_one_signal(result, STATUS_VICTIM)


def _expect_one_signal(result: CaseResult, ident: str) -> None:
    sent = result.new_signals.get(ident, [])
    if len(sent) != 1:
        result.problems.append(f"{ident}, whose hook finished while no agent ran, should be signalled exactly "
                               f"once; Heat got {len(sent)} signal(s): {[_brief(p) for p in sent]}")


def _brief(payload: Any) -> str:
    if not isinstance(payload, dict):
        return repr(payload)[:200]
    return (f"status {payload.get('deploy_status_code')!r}, stderr "
            f"{str(payload.get('deploy_stderr', ''))[-200:]!r}")


def damage_matrix(root: Path, files: tuple[str, ...] = FILES, kinds: tuple[str, ...] = KINDS,
                  say: Say = _quiet) -> list[CaseResult]:
    """Every (file, kind) case; a case whose set-up fails is a result that did not survive."""
    world = DamageWorld(root)
    results = []
    try:
        for file in files:
            for kind in kinds:
                try:
                    result = world.run_case(file, kind)
                except ScenarioError as err:
                    result = CaseResult(file=file, kind=kind, note=f"set-up failed: {err}")
                    result.problems.append(str(err))
                say(f"damaged {file} ({kind}): survived {'yes' if result.survived else 'NO'}, "
                    f"reported {'yes' if result.reported else 'NO'}, reruns {result.unexpected_reruns or 'none'}")
                results.append(result)
    finally:
        world.close()
    return results


# ================================================================== the signal outage

@dataclass
class OutageFigures:
    outage: float
    delay: float | None = None     # from the endpoint answering again to the signal's arrival
    signals: int = 0


def signal_outage(root: Path, outage: float = 120.0, say: Say = _quiet) -> OutageFigures:
    """The signal endpoint answers 503 for ``outage`` seconds; how long after it recovers the signal lands."""
    heat = Heat()
    agent = new_agent(root, heat)
    figures = OutageFigures(outage=outage)
    item = heat.item("outage", f"#!/bin/sh\necho outage >> {root / 'runs'}\necho hello\n")
    heat.refuse_signals("outage", item)
    began = time.monotonic()
    heat.publish([item])
    daemon = AgentProcess(agent, "run")
    try:
        time.sleep(max(0.0, began + outage - time.monotonic()))
        say(f"the signal endpoint answers again after {outage:.0f}s")
        heat.accept_signals()
        back = time.monotonic()
        if wait_until(lambda: heat.signal_count("outage"), 330, step=0.05):
            figures.delay = heat.signals("outage")[0].monotonic - back
        time.sleep(1.0)
        figures.signals = heat.signal_count("outage")
    finally:
        daemon.stop()
        end_processes(agent)
        heat.close()
    return figures


# ================================================================== the report

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench faults",
                                     description="stoker under faults: SIGKILLs, a full disk, damaged state, "
                                                 "a signal outage")
    parser.add_argument("--deployments", type=int, default=100, help="deployments in the SIGKILL chain (100)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs during the chain (20)")
    parser.add_argument("--seed", type=int, help="random seed of the SIGKILL loop (default: random)")
    parser.add_argument("--outage", type=float, default=120.0,
                        help="seconds the signal endpoint is down (120; 0 skips the outage scenario)")
    parser.add_argument("--damage-files", default=",".join(FILES), help=f"state files to damage ({','.join(FILES)})")
    parser.add_argument("--damage-kinds", default=",".join(KINDS), help=f"kinds of damage ({','.join(KINDS)})")
    parser.add_argument("--only", default="sigkill,disk,damage,outage", help="scenarios to run (all)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    root = Path(tempfile.mkdtemp(prefix="stoker-faults-"))
    started = time.monotonic()
    say = progress(started)
    results: dict[str, Any] = {"errors": {}}
    try:
        for name, run in (("sigkill", _bench_sigkill), ("disk", _bench_disk), ("damage", _bench_damage),
                          ("outage", _bench_outage)):
            if name in only and not (name == "outage" and args.outage <= 0):
                _guard(results, name, say, lambda run=run, name=name: run(args, root / name, results, say))
    finally:
        close_run(root, args.keep, say)
    return publish(results, started, lambda: report(results), args.json)


def _guard(results: dict[str, Any], name: str, say: Say, run: Callable[[], None]) -> None:
    try:
        run()
    except Unavailable as err:
        results[name] = {"unavailable": str(err)}
        say(f"{name}: not run here: {err}")
    except Exception as err:  # noqa: BLE001 - one broken scenario must not hide the others' figures
        results["errors"][name] = f"{type(err).__name__}: {err}"
        say(f"{name}: FAILED: {err}")


def _bench_sigkill(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    say(f"SIGKILL loop: {args.deployments} chained deployments, {args.kills} kills")
    figures = sigkill_loop(root, args.deployments, args.kills, seed=args.seed, say=say)
    results["sigkill"] = {
        "deployments": figures.deployments, "seed": figures.seed, "kills": len(figures.kills),
        "kills_in_hooks": figures.kills_in_hooks, "kills_in_delivery": figures.kills_in_delivery,
        "crashes": figures.crashes, "lost": figures.lost, "signalled_twice": figures.signalled_twice,
        "resent_after_kill": figures.resent_after_kill, "run_twice": figures.run_twice,
        "false_interrupted": figures.false_interrupted, "seconds": figures.seconds}


def _bench_disk(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    say("full disk: state and deployed dirs on a 4 MiB tmpfs")
    figures = full_disk(root, say=say)
    results["disk"] = {k: v for k, v in asdict(figures).items() if k != "logs"}


def _bench_damage(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    files = tuple(f.strip() for f in args.damage_files.split(",") if f.strip())
    kinds = tuple(k.strip() for k in args.damage_kinds.split(",") if k.strip())
    say(f"damaged state: {len(files)} files x {len(kinds)} kinds of damage")
    cases = damage_matrix(root, files, kinds, say=say)
    results["damage"] = {
        "cases": len(cases), "survived": sum(c.survived for c in cases),
        "must_report": sum(c.must_report for c in cases),
        "reported": sum(c.reported and c.must_report for c in cases),
        "rerun": sum(bool(c.unexpected_reruns) for c in cases),
        "failed_cases": {f"{c.file}/{c.kind}": (["crashed"] if not c.survived else []) + c.problems
                         + ([f"reran {c.unexpected_reruns}"] if c.unexpected_reruns else [])
                         for c in cases if not (c.survived and c.reported and not c.unexpected_reruns)}}


def _bench_outage(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    say(f"signal outage: the endpoint refuses for {args.outage:.0f}s")
    results["outage"] = asdict(signal_outage(root, args.outage, say=say))


def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    _report_sigkill(results.get("sigkill"), rows)
    _report_disk(results.get("disk"), rows)
    _report_damage(results.get("damage"), rows)
    _report_outage(results.get("outage"), rows)
    header = ("scenario", "figure", "target")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = ["stoker under faults", "", line.format(*header), "  ".join("-" * w for w in widths)]
    lines += [line.format(*row).rstrip() for row in rows]
    failed = (results.get("damage") or {}).get("failed_cases") or {}
    if failed:
        lines += ["", "damaged-state cases that missed:"]
        lines += [f"  {case}: {'; '.join(why)[:300]}" for case, why in failed.items()]
    if results["errors"]:
        lines += ["", "errors:"] + [f"  {k}: {v}" for k, v in results["errors"].items()]
    lines += ["", f"total run time {results['elapsed']:.0f} s"]
    return "\n".join(lines)


def _verdict(value: Any, ok: bool) -> str:
    return f"{value}  {'met' if ok else 'MISSED'}"


def _report_sigkill(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    rows += [
        (f"SIGKILL loop: chained deployments (seed {fig['seed']})", str(fig["deployments"]), ""),
        ("  kills / inside hooks / in signal delivery",
         f"{fig['kills']} / {fig['kills_in_hooks']} / {fig['kills_in_delivery']}", ""),
        ("  agent exits nobody asked for", str(fig["crashes"]), _verdict(0, fig["crashes"] == 0)),
        ("  lost (never signalled)", str(len(fig["lost"])), _verdict(0, not fig["lost"])),
        ("  signalled twice", str(len(fig["signalled_twice"])), _verdict(0, not fig["signalled_twice"])),
        ("    re-sent once after a kill between receipt and record", str(len(fig["resent_after_kill"])),
         "allowed (at least once)"),
        ("  run twice", str(len(fig["run_twice"])), _verdict(0, not fig["run_twice"])),
        ("  false 'interrupted'", str(len(fig["false_interrupted"])), _verdict(0, not fig["false_interrupted"])),
        ("  total", f"{fig['seconds']:.1f} s", _verdict("<= 300 s", fig["seconds"] <= 300)),
    ]


def _report_disk(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    if "unavailable" in fig:
        rows.append(("full disk", f"not run: {fig['unavailable']}", ""))
        return
    received = "yes" if fig["signal_received"] else "no"
    named = "names the full disk" if fig["says_disk_full"] else "does not name the full disk"
    ok = fig["signal_received"] and fig["says_disk_full"] and fig["failure_code"] not in (0, None)
    recovered = f"{fig['recovery_seconds']:.2f} s" if fig["recovery_seconds"] is not None else "never"
    rows += [
        ("full disk: failure signal received", f"{received} ({named})", _verdict("yes, naming it", ok)),
        ("  daemon restarts", str(fig["daemon_restarts"]), _verdict(0, fig["daemon_restarts"] == 0)),
        ("  next deployment after space returns", recovered,
         _verdict("succeeds", fig["recovered"] and fig["after_code"] == 0)),
        ("  the big deployment's runs / signals", f"{fig['big_runs']} / {fig['big_signals']}",
         _verdict("1 / 1", fig["big_runs"] == 1 and fig["big_signals"] == 1)),
    ]


def _report_damage(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    rows += [
        ("damaged state: cases (file x kind of damage)", str(fig["cases"]), ""),
        ("  survived (no traceback, documented exit codes)", str(fig["survived"]),
         _verdict(fig["cases"], fig["survived"] == fig["cases"])),
        ("  reported (quarantined, listed, Heat told)", f"{fig['reported']} of {fig['must_report']}",
         _verdict(fig["must_report"], fig["reported"] == fig["must_report"])),
        ("  cases where a deployment ran again", str(fig["rerun"]), _verdict(0, fig["rerun"] == 0)),
    ]


def _report_outage(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    delay = f"{fig['delay']:.1f} s" if fig["delay"] is not None else "never"
    rows += [
        (f"signal outage of {fig['outage']:.0f} s: delivered after recovery", delay, ""),
        ("  signals received", str(fig["signals"]), _verdict(1, fig["signals"] == 1)),
    ]


if __name__ == "__main__":
    sys.exit(main())
