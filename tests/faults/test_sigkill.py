"""The agent SIGKILLed (the OOM killer, a supervisor's last resort) loses nothing and repeats nothing.

Heat drives the server the way it really does: it publishes deployment i+1
once the signal of deployment i arrived, so one lost signal stalls the whole
stack. The agent is killed alone: its hooks run in their own process group
(or cgroup) under a small wrapper that keeps their output, pid and exit
status in ``<state>/work/<key>/``, so they outlive the agent. After a
restart, a hook that finished is reported with its real result, one still
running is waited for, and one that never started runs normally. Only a hook
that was really cut off is "interrupted"; here none ever is.

The random loop lives in ``bench/faults/sigkill.py`` (``sigkill_loop``), shared with
``python -m bench faults``; set ``STOKER_FAULTS_SEED`` to replay a run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.faults import AgentProcess, Heat, SigkillFigures, end_processes, new_agent, read_record, \
    run_counts, sigkill_loop, wait_until
from tests.agent_helpers import Agent

pytestmark = pytest.mark.faults

DEPLOYMENTS = 100
KILLS = 20
TIME_LIMIT = 300.0


def seed() -> int | None:
    value = os.environ.get("STOKER_FAULTS_SEED")
    return int(value) if value else None


def loop_problems(figures: SigkillFigures) -> list[str]:
    """Every way the run broke a promise, in words a newcomer can act on."""
    problems = []
    if figures.crashes:
        problems.append(f"the agent exited {figures.crashes} time(s) without being killed (a crash loop?)")
    if figures.lost:
        problems.append(f"{len(figures.lost)} deployment(s) never signalled, so Heat would wait forever: "
                        f"{figures.lost[:10]}")
    if figures.signalled_twice:
        problems.append(f"deployment(s) signalled more than once without a kill between Heat's receipt and the "
                        f"agent's record to explain it: {figures.signalled_twice}")
    if figures.run_twice:
        problems.append(f"hook(s) ran twice (a restart ran a deployment again): {figures.run_twice}")
    if figures.never_ran:
        problems.append(f"hook(s) never ran: {figures.never_ran[:10]}")
    if figures.false_interrupted:
        problems.append(f"deployment(s) reported 'interrupted' although the agent alone was killed and the hook "
                        f"ran to its end (it should be adopted and its real result reported): "
                        f"{figures.false_interrupted}")
    if figures.seconds > TIME_LIMIT:
        problems.append(f"the run took {figures.seconds:.0f}s, more than {TIME_LIMIT:.0f}s")
    return problems


@pytest.mark.slow
def test_the_agent_killed_twenty_times_loses_nothing_and_runs_nothing_twice(tmp_path):
    figures = sigkill_loop(tmp_path, DEPLOYMENTS, KILLS, seed=seed(), time_limit=TIME_LIMIT)
    replay = f"(replay with STOKER_FAULTS_SEED={figures.seed})"
    assert len(figures.kills) == KILLS, f"the harness killed the agent {len(figures.kills)} times, not {KILLS} {replay}"
    assert figures.kills_in_hooks >= KILLS // 4, (
        f"only {figures.kills_in_hooks} of {KILLS} kills landed while a hook ran; the test must kill inside "
        f"hooks to prove anything {replay}")
    problems = loop_problems(figures)
    assert not problems, (
        f"{DEPLOYMENTS} chained deployments, {len(figures.kills)} SIGKILLs ({figures.kills_in_hooks} inside "
        f"hooks) {replay}:\n- " + "\n- ".join(problems) + f"\nlast lines of the agents' logs:\n{figures.log_tail()}")


# ------------------------------------------------------------------ each restart case on its own

def slow_script(ident: str, runs: Path, seconds: float, code: int = 0) -> str:
    started = runs.parent / f"{ident}.started"
    return (f"#!/bin/sh\necho {ident} >> {runs}\ntouch {started}\nsleep {seconds}\n"
            f"echo \"{ident} finished\"\necho \"{ident} says goodbye\" >&2\nexit {code}\n")


def kill_inside_hook(agent: Agent, heat: Heat, ident: str) -> None:
    """``stoker run`` until the journal says ``ident`` is running and its script started; SIGKILL it alone."""
    daemon = AgentProcess(agent, "run")
    started = agent.root / f"{ident}.started"
    try:
        inside = wait_until(lambda: started.exists() and (read_record(agent, ident) or {}).get("state") == "running",
                            30)
        assert inside, f"the hook of {ident} never started under 'stoker run':\n{daemon.stderr[-3000:]}"
    finally:
        daemon.sigkill()
    assert not heat.signals(ident), "the agent was killed before the hook ended: nothing can have been signalled"


def only_signal(heat: Heat, ident: str) -> dict[str, Any]:
    received = heat.signals(ident)
    assert len(received) == 1, f"{ident} must be signalled exactly once, Heat got {len(received)}"
    return received[0].payload


@pytest.fixture
def heat():
    running = Heat()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def agent(tmp_path, heat):
    made = new_agent(tmp_path, heat)
    try:
        yield made
    finally:
        end_processes(made)


def test_a_hook_that_finished_while_the_agent_was_dead_is_reported_with_its_real_result(agent, heat):
    runs = agent.root / "runs"
    heat.publish([heat.item("done", slow_script("done", runs, 1, code=3))])
    kill_inside_hook(agent, heat, "done")
    status = agent.state / "work" / "done" / "status"
    assert wait_until(status.exists, 15, step=0.05), (
        f"the hook ended after the agent was killed, but its wrapper kept no exit status in "
        f"{status.relative_to(agent.root)}; files there: "
        f"{sorted(p.name for p in status.parent.glob('*')) if status.parent.exists() else 'no such directory'}")
    again = agent.run("run", "--once", "--signal-wait", "10")
    assert "Traceback" not in again.stderr, again.stderr
    payload = only_signal(heat, "done")
    assert "interrupted" not in json.dumps(payload), f"the finished hook was reported as interrupted: {payload}"
    assert payload.get("deploy_status_code") == 3, f"the hook's real exit status (3) must be reported: {payload}"
    assert "done finished" in payload.get("deploy_stdout", ""), f"the hook's real stdout is lost: {payload}"
    assert "done says goodbye" in payload.get("deploy_stderr", ""), f"the hook's real stderr is lost: {payload}"
    assert run_counts(runs)["done"] == 1, "the finished hook was run again"


def test_a_hook_still_running_after_a_restart_is_waited_for_and_reported(agent, heat):
    runs = agent.root / "runs"
    heat.publish([heat.item("slow", slow_script("slow", runs, 3))])
    kill_inside_hook(agent, heat, "slow")
    daemon = AgentProcess(agent, "run")  # at once: the hook still has seconds to go
    try:
        assert wait_until(lambda: heat.signals("slow"), 30), (
            f"the restarted agent never signalled the hook it found running:\n{daemon.stderr[-3000:]}")
        assert daemon.alive(), f"the restarted agent exited:\n{daemon.stderr[-3000:]}"
    finally:
        daemon.stop()
    payload = only_signal(heat, "slow")
    assert payload.get("deploy_status_code") == 0 and "slow finished" in payload.get("deploy_stdout", ""), (
        f"the adopted hook must be reported with its real result once it ends, not stopped or failed: {payload}")
    assert run_counts(runs)["slow"] == 1, "the running hook was started a second time"


def test_a_deployment_whose_hook_never_started_runs_normally_after_a_restart(agent, heat):
    """The agent died after recording "running" but before starting the wrapper: nothing ran, so
    running it now is the only way Heat gets a real result (and it is not run twice)."""
    runs = agent.root / "runs"
    first = heat.item("first", f"#!/bin/sh\necho first >> {runs}\necho first\n")
    heat.publish([first])
    assert agent.run("run", "--once", "--signal-wait", "10").returncode == 0
    fresh = heat.item("fresh", f"#!/bin/sh\necho fresh >> {runs}\necho fresh ran\n")
    record = dict(read_record(agent, "first") or {}, key="fresh", id="fresh", name="fresh", state="running",
                  pid=None, pid_start=None, finished_at=None, duration=None, status_code=None, ok=None,
                  reason="")
    record["signal"] = {"transport": "NO_SIGNAL", "state": "none", "attempts": 0, "next_attempt_at": 0.0,
                        "deadline": 0.0, "last_error": "", "http_status": None, "delivered_at": None}
    (agent.deployed / "fresh.json").write_text(json.dumps(fresh))
    (agent.state / "journal" / "fresh.json").write_text(json.dumps(record))
    heat.publish([first, fresh])
    again = agent.run("run", "--once", "--signal-wait", "10")
    assert "Traceback" not in again.stderr, again.stderr
    payload = only_signal(heat, "fresh")
    assert "interrupted" not in json.dumps(payload), (
        f"a deployment whose hook never started was reported as interrupted instead of being run: {payload}")
    assert payload.get("deploy_status_code") == 0 and payload.get("deploy_stdout") == "fresh ran\n", payload
    assert run_counts(runs) == {"first": 1, "fresh": 1}, f"runs: {dict(run_counts(runs))}"
