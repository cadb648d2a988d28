"""The damaged-state matrix: a state where deployments ran, damaged file by file, every command run over it.

An agent that crashes at every start over a damaged file signals nothing any
more, so each case runs ``status``, ``apply`` and ``run --once`` over the
damage and hands what they did to :mod:`.damage_judges`.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from tests.agent_helpers import Agent

from ..console import Say
from .agents import MARKER, AgentProcess, configure, end_processes, read_record, run_counts
from .common import ScenarioError, quiet, wait_until
from .damage_cases import FILES, ITEM_VICTIM, KINDS, RECORD_VICTIM, RERUN_VICTIM, STATUS_VICTIM, CaseResult, \
    Command, damage
from .damage_judges import judge
from .heat import Heat


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
        judge(agent, result, original)


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




def damage_matrix(root: Path, files: tuple[str, ...] = FILES, kinds: tuple[str, ...] = KINDS,
                  say: Say = quiet) -> list[CaseResult]:
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
