"""Issue 2 acceptance: the agent killed (SIGKILL) while a hook runs, then started again.

Upstream marks a deployment "deployed" before its hook runs, so a crash means
it never runs again and Heat never hears. stoker records the hook's start, and
the next start turns it into a failure that is signalled ("interrupted: ..."),
without running it a second time, after stopping the hook it left behind.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.agent_helpers import Agent, kill_quietly, process_alive, script_item, wait_for

INTERRUPTED = "interrupted: the agent stopped while the hook was running"


@pytest.fixture
def agent(tmp_path):
    return Agent(tmp_path)


def victim_script(tmp_path):
    """A script that counts its runs, says where it is, then sleeps well past the test."""
    return (f"#!/bin/sh\necho run >> {tmp_path / 'runs'}\necho $$ > {tmp_path / 'script.pid'}\n"
            f"touch {tmp_path / 'started'}\nsleep 60\necho finished >> {tmp_path / 'runs'}\n")


def kill_agent_mid_hook(agent, tmp_path, items):
    """Start ``stoker apply``, wait for the first hook to be running, SIGKILL the agent only."""
    proc = agent.start_apply(items)
    try:
        wait_for((tmp_path / "started").exists, timeout=20, what="the hook's script to start")
        wait_for(lambda: agent.record("victim").get("pid"), timeout=5,
                 what="the journal to record the running hook's pid")
        record = agent.record("victim")
        assert record["state"] == "running", f"the journal must say the hook is running: {record}"
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    os.kill(proc.pid, signal.SIGKILL)  # the agent only: the hook is in its own process group
    proc.wait(timeout=10)
    return record["pid"], record["pid_start"], int((tmp_path / "script.pid").read_text())


def test_a_deployment_interrupted_by_an_agent_crash_is_failed_not_rerun_and_its_hook_stopped(agent, tmp_path):
    runs = tmp_path / "runs"
    after = script_item("after", f"#!/bin/sh\necho after >> {runs}\n", name="20_after")
    items = [script_item("victim", victim_script(tmp_path), name="10_victim"), after]
    hook_pid, hook_start, script_pid = kill_agent_mid_hook(agent, tmp_path, items)
    try:
        assert process_alive(hook_pid) and process_alive(script_pid), \
            "the hook should outlive the killed agent (else this test proves nothing)"
        assert not (agent.deployed / "victim.notify.json").exists()

        started = time.monotonic()
        again = agent.apply(items)
        assert time.monotonic() - started < 15, "recovery waited too long for the leftover hook"
        assert again.returncode == 1, again.stdout + again.stderr

        got = agent.notify("victim")
        assert INTERRUPTED in got["deploy_stderr"]
        assert got["deploy_status_code"] != 0
        record = agent.record("victim")
        assert (record["state"], record["ok"], record["pid"]) == ("finished", False, None)
        assert INTERRUPTED in record["reason"]
        assert runs.read_text() == "run\nafter\n", "the interrupted deployment ran again (or 'after' did not)"
        assert not process_alive(hook_pid), "the leftover hook process was not stopped"
        wait_for(lambda: not process_alive(script_pid), timeout=5,
                 what="the leftover hook's script (same process group) to be stopped")
        assert agent.notify("after")["deploy_status_code"] == 0, "the rest of the document still runs"

        code, status, _ = agent.status()
        assert code == 1
        row = [r for r in status["deployments"] if r["id"] == "victim"][0]
        assert row["ok"] is False and INTERRUPTED in row["reason"]

        third = agent.apply(items)
        assert (third.returncode, third.stdout.strip()) == (0, "nothing new to deploy")
        assert runs.read_text() == "run\nafter\n"
    finally:
        kill_quietly(hook_pid, hook_start)


def test_an_interrupted_deployment_whose_hook_is_already_gone_is_still_recorded_as_failed(agent, tmp_path):
    items = [script_item("victim", victim_script(tmp_path))]
    hook_pid, hook_start, _ = kill_agent_mid_hook(agent, tmp_path, items)
    kill_quietly(hook_pid, hook_start)  # the hook's whole process group, as a reboot would
    wait_for(lambda: not process_alive(hook_pid), timeout=5, what="the hook to die")
    again = agent.apply(items)
    assert again.returncode == 1, again.stdout + again.stderr
    assert INTERRUPTED in agent.notify("victim")["deploy_stderr"]
    assert (tmp_path / "runs").read_text() == "run\n"


def test_status_shows_a_running_deployment_and_exits_3_while_its_hook_runs(agent, tmp_path):
    items = [script_item("victim", victim_script(tmp_path))]
    hook_pid, hook_start, _ = kill_agent_mid_hook(agent, tmp_path, items)
    try:
        code, status, _ = agent.status()
        assert code == 3, "a deployment still marked running makes status exit 3"
        assert status["deployments"][0]["state"] == "running"
        table = agent.run("status")
        assert "RUNNING" in table.stdout
    finally:
        kill_quietly(hook_pid, hook_start)


def test_rerun_of_an_interrupted_deployment_runs_it_again(agent, tmp_path):
    items = [script_item("victim", victim_script(tmp_path).replace("sleep 60", "true"))]
    # First make it interrupted: a slow variant killed mid-hook, then recovered.
    hook_pid, hook_start, _ = kill_agent_mid_hook(agent, tmp_path, [script_item("victim", victim_script(tmp_path))])
    try:
        assert agent.apply(items).returncode == 1
    finally:
        kill_quietly(hook_pid, hook_start)
    assert agent.rerun("victim").returncode == 0
    again = agent.apply(items)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "runs").read_text() == "run\nrun\nfinished\n"
    assert agent.notify("victim")["deploy_status_code"] == 0


def test_a_deployment_interrupted_by_a_reboot_says_so_and_no_process_of_the_new_boot_is_touched(agent, tmp_path):
    """After a reboot the recorded pid may name an unrelated process, even with the same start
    time (boots are deterministic): the journal's boot id tells, and nothing is stopped."""
    items = [script_item("victim", victim_script(tmp_path))]
    hook_pid, hook_start, _ = kill_agent_mid_hook(agent, tmp_path, items)
    try:
        record_path = agent.state / "journal" / "victim.json"
        record = json.loads(record_path.read_text())
        assert record["boot_id"], "the journal must record which boot the hook started in"
        record["boot_id"] = "00000000-0000-4000-8000-000000000000"  # as if written before a reboot
        record_path.write_text(json.dumps(record))

        again = agent.apply(items)
        assert again.returncode == 1, again.stdout + again.stderr
        got = agent.notify("victim")
        assert "interrupted: the server restarted while the hook was running" in got["deploy_stderr"]
        assert got["deploy_status_code"] != 0
        assert process_alive(hook_pid), "a process with the recorded pid was stopped although it is from another boot"
        assert (tmp_path / "runs").read_text() == "run\n"
    finally:
        kill_quietly(hook_pid, hook_start)
