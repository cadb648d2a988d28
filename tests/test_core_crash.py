"""The agent killed (SIGKILL) while a hook runs, then started again.

Upstream marks a deployment "deployed" before its hook runs, so a crash means
it never runs again and Heat never hears. stoker records the hook's start and
keeps the hook's output and exit status in its run directory, so the next
start reports the truth: the hook's real result when it finished meanwhile
(or once it finishes, when it is still running), and "interrupted" only when
the hook was really cut off. Nothing runs a second time.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.agent_helpers import Agent, kill_quietly, process_alive, script_item, wait_for

pytestmark = pytest.mark.contract

INTERRUPTED = "interrupted: the agent stopped while the hook was running"


@pytest.fixture
def agent(tmp_path):
    return Agent(tmp_path)


def victim_script(tmp_path, exit_code: int = 0):
    """A script that counts its runs, says where it is, then waits for the test's go (at most 60 s)."""
    return (f"#!/bin/sh\necho run >> {tmp_path / 'runs'}\necho $$ > {tmp_path / 'script.pid'}\n"
            f"touch {tmp_path / 'started'}\n"
            f"i=0; while [ ! -e {tmp_path / 'go'} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
            f"echo finished >> {tmp_path / 'runs'}\nexit {exit_code}\n")


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


def test_a_hook_still_running_when_the_agent_restarts_is_waited_for_and_its_real_result_reported(agent, tmp_path):
    """The agent died, its hook did not: the next agent adopts it instead of calling it interrupted."""
    runs = tmp_path / "runs"
    after = script_item("after", f"#!/bin/sh\necho after >> {runs}\n", name="20_after")
    items = [script_item("victim", victim_script(tmp_path, exit_code=3), name="10_victim"), after]
    hook_pid, hook_start, script_pid = kill_agent_mid_hook(agent, tmp_path, items)
    try:
        assert process_alive(hook_pid) and process_alive(script_pid), \
            "the hook should outlive the killed agent (else this test proves nothing)"
        again = agent.start_apply(items)
        time.sleep(1.5)
        assert again.poll() is None, "the new agent should wait for the hook it found running"
        (tmp_path / "go").touch()
        out, err = again.communicate(timeout=30)
        assert again.returncode == 1, (out + err).decode()

        got = agent.notify("victim")
        assert got["deploy_status_code"] == 3, f"the hook's real exit status must be reported: {got}"
        assert "interrupted" not in got["deploy_stderr"]
        record = agent.record("victim")
        assert (record["state"], record["ok"], record["status_code"]) == ("finished", False, 3)
        assert runs.read_text() == "run\nfinished\nafter\n", "the adopted hook ran again, or 'after' did not run"
        assert agent.notify("after")["deploy_status_code"] == 0, "the rest of the document still runs"
        third = agent.apply(items)
        assert (third.returncode, third.stdout.strip()) == (0, "nothing new to deploy")
    finally:
        kill_quietly(hook_pid, hook_start)


def test_a_hook_that_finished_while_the_agent_was_down_is_reported_with_its_real_result(agent, tmp_path):
    """Its exit status and output were kept in the run directory, not in temporary files."""
    items = [script_item("victim", victim_script(tmp_path, exit_code=0))]
    hook_pid, hook_start, script_pid = kill_agent_mid_hook(agent, tmp_path, items)
    try:
        (tmp_path / "go").touch()
        wait_for(lambda: not process_alive(hook_pid), timeout=20, what="the hook to finish on its own")
        again = agent.apply(items)
        assert again.returncode == 0, again.stdout + again.stderr
        got = agent.notify("victim")
        assert got["deploy_status_code"] == 0 and "interrupted" not in got["deploy_stderr"], got
        assert (tmp_path / "runs").read_text() == "run\nfinished\n", "the finished hook ran again"
        assert not (agent.state / "work" / "victim").exists(), "the run directory is removed once recorded"
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
    items = [script_item("victim", victim_script(tmp_path))]
    # First make it interrupted: killed mid-hook together with its hook, then recovered.
    hook_pid, hook_start, _ = kill_agent_mid_hook(agent, tmp_path, items)
    kill_quietly(hook_pid, hook_start)
    wait_for(lambda: not process_alive(hook_pid), timeout=5, what="the hook to die")
    assert agent.apply(items).returncode == 1
    (tmp_path / "go").touch()
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
