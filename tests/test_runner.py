"""The runner: a hook's run directory survives the agent, and a timeout stops all the hook started."""
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stoker import hookcgroup, payload, runner
from tests.agent_helpers import kill_quietly, process_alive, wait_for

pytestmark = pytest.mark.unit


def hook(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hook"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_the_run_directory_keeps_input_output_pid_and_exit_status(tmp_path):
    rundir = tmp_path / "work" / "d1"
    outcome = runner.run_hook(hook(tmp_path, "cat\necho oops >&2\nexit 3\n"), b'{"id": "d1"}',
                              timeout=30, rundir=rundir)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (3, b'{"id": "d1"}', b"oops\n")
    assert runner.recorded_status(rundir) == 3
    assert runner.recorded_pid(rundir) is not None
    assert (rundir / "stdin").read_bytes() == b'{"id": "d1"}'
    assert oct((rundir / "stdin").stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize("text, mode, words", [
    ("#!/bin/sh\n", 0o644, "it is not executable"),
    ("#!/nonexistent/interpreter\n", 0o755, "it, or the interpreter its first line names, was not found"),
])
def test_a_hook_that_cannot_be_started_is_reported_as_such(tmp_path, text, mode, words):
    path = tmp_path / "hook"
    path.write_text(text)
    path.chmod(mode)
    outcome = runner.run_hook(path, b"{}", timeout=30, rundir=tmp_path / "work" / "d1")
    result = payload.from_hook(outcome, "hook")
    assert result["deploy_status_code"] in (126, 127) and f"cannot run hook hook: {words}" in result["deploy_stderr"]


def test_a_timeout_stops_children_that_left_the_process_group(tmp_path):
    if hookcgroup.HookCgroup.create("check") is None:
        pytest.skip(f"no writable cgroup v2 here: {hookcgroup.describe_mode(None)}")
    hookcgroup.sweep_empty("stoker-hook-check")
    pid_file = tmp_path / "escaped.pid"
    body = f"setsid sleep 300 </dev/null >/dev/null 2>&1 &\necho $! > {pid_file}\nsleep 300\n"
    started = time.monotonic()
    outcome = runner.run_hook(hook(tmp_path, body), b"{}", timeout=1, rundir=tmp_path / "work" / "d1")
    escaped = int(pid_file.read_text())
    try:
        assert outcome.timed_out and time.monotonic() - started < 20
        wait_for(lambda: not process_alive(escaped), timeout=5,
                 what="the setsid child of a timed-out hook to be stopped with it")
    finally:
        kill_quietly(escaped)


def test_find_wrapper_finds_a_live_wrapper_by_its_run_directory(tmp_path):
    rundir = tmp_path / "work" / "d1"
    gate = tmp_path / "go"
    body = f"i=0; while [ ! -e {gate} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n"
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        outcome=runner.run_hook(hook(tmp_path, body), b"{}", timeout=60, rundir=rundir)))
    thread.start()
    try:
        wait_for(lambda: runner.recorded_pid(rundir) is not None, timeout=10, what="the wrapper's pid file")
        assert runner.find_wrapper(rundir) == runner.recorded_pid(rundir)
        assert runner.find_wrapper(tmp_path / "work" / "other") is None
    finally:
        gate.touch()
        thread.join(timeout=30)
    assert result["outcome"].returncode == 0


def test_low_space_is_reported_for_a_nearly_full_file_system_only():
    assert runner.low_space(Path("/")) is None or "disk is full" in runner.low_space(Path("/"))
    assert runner.low_space(Path("/nonexistent/path")) is None


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling fallback"])
def test_exited_within_reaps_a_process_that_ends_and_answers_false_for_one_still_running(monkeypatch, pidfd):
    if not pidfd:
        def no_pidfd(_pid):
            raise OSError(38, "Function not implemented")
        monkeypatch.setattr(runner.os, "pidfd_open", no_pidfd)
    quick = subprocess.Popen(["/bin/sh", "-c", "exit 7"])
    assert runner.exited_within(quick, 30) is True
    assert quick.returncode == 7, "the process is reaped, its exit status known"
    slow = subprocess.Popen(["/bin/sh", "-c", "sleep 30"])
    try:
        assert runner.exited_within(slow, 0.2) is False
        assert slow.returncode is None
    finally:
        slow.kill()
        slow.wait()


def _in_child(code: str) -> str:
    """Run ``code`` in a fresh Python (a stand-in agent that may cap or kill itself); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_hook_never_starts_when_the_agent_dies_while_its_wrapper_waits_at_the_gate(tmp_path):
    marker = tmp_path / "ran"
    path = hook(tmp_path, f"touch {marker}\n")
    rundir = tmp_path / "work" / "d1"
    wrapper = int(_in_child(
        "import os, sys\nfrom pathlib import Path\nfrom stoker import runner\n"
        f"launch = runner.start_hook(Path({str(path)!r}), b'{{}}', rundir=Path({str(rundir)!r}))\n"
        "print(launch.pid, flush=True)\nos._exit(0)\n"))
    wait_for(lambda: not process_alive(wrapper), timeout=10, what="the wrapper to give up at its closed gate")
    assert not marker.exists(), "the hook started although its start was never recorded"
    assert runner.recorded_pid(rundir) is None and runner.recorded_status(rundir) is None


def test_a_hook_gets_back_the_data_limit_the_agent_had_before_it_capped_its_own(tmp_path):
    path = hook(tmp_path, "ulimit -S -d\n")
    before = resource.getrlimit(resource.RLIMIT_DATA)[0]
    expected = "unlimited" if before == resource.RLIM_INFINITY else str(before // 1024)
    seen = _in_child(
        "from pathlib import Path\nfrom stoker import runner\nrunner.limit_agent_memory(300)\n"
        f"outcome = runner.run_hook(Path({str(path)!r}), b'', timeout=30, rundir=Path({str(tmp_path / 'w')!r}))\n"
        "print(outcome.stdout.decode().strip())\n")
    assert seen.strip() == expected


def test_the_hook_starts_inside_its_own_cgroup(tmp_path):
    if hookcgroup.HookCgroup.create("check") is None:
        pytest.skip(f"no writable cgroup v2 here: {hookcgroup.describe_mode(None)}")
    hookcgroup.sweep_empty("stoker-hook-check")
    outcome = runner.run_hook(hook(tmp_path, "cat /proc/self/cgroup\n"), b"{}", timeout=30,
                              rundir=tmp_path / "work" / "d1")
    v2 = [line for line in outcome.stdout.decode().splitlines() if line.startswith("0::")]
    assert v2 and v2[0].rsplit("/", 1)[-1].startswith("stoker-hook-d1"), outcome.stdout
