"""``stoker run`` as a daemon under a supervisor: polls, picks up changes quickly, survives SIGHUP,
stops cleanly on SIGTERM. Uses the ``local`` source so that no server is needed."""
import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.agent_helpers import Agent, document, script_item, wait_for

pytestmark = pytest.mark.contract


def daemon_config(agent: Agent, data_dir: Path, **extra: object) -> Path:
    """A config whose only metadata source is a local directory; nothing of the machine's is read."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    keys = {"polling_interval": 2, "min_polling_interval": 0.2, "signal_wait": 1,
            "cfn_init_data": agent.root / "absent-cfn-init-data",
            "os_collect_config": agent.root / "absent-os-collect-config.conf", **extra}
    lines = ["[DEFAULT]", *(f"{k} = {v}" for k, v in keys.items()), "collectors = local",
             "", "[local]", f"path = {data_dir}"]
    agent.config_file = agent.root / "stoker.conf"
    agent.config_file.write_text("\n".join(lines) + "\n")
    return agent.config_file


def publish(data_dir: Path, items: list) -> None:
    path = data_dir / "metadata.json"
    tmp = data_dir / ".metadata.tmp"
    tmp.write_text(json.dumps(document(items)))
    tmp.chmod(0o600)
    tmp.rename(path)


def start_daemon(agent: Agent) -> subprocess.Popen:
    return subprocess.Popen(agent.argv("run"), env=agent.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@contextlib.contextmanager
def running_daemon(agent: Agent, data: Path, items: list) -> Iterator[subprocess.Popen]:
    """A daemon polling ``data`` (which starts with ``items``), stopped with SIGTERM afterwards."""
    daemon_config(agent, data)
    publish(data, items)
    daemon = start_daemon(agent)
    try:
        yield daemon
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)


def finished(agent: Agent, key: str) -> bool:
    """The journal says the deployment finished (its payload file is written just before that)."""
    try:
        return agent.record(key)["state"] == "finished"
    except (OSError, ValueError, KeyError):
        return False


def test_run_once_applies_what_the_local_source_holds_and_exits_zero(tmp_path):
    agent = Agent(tmp_path)
    data = tmp_path / "local-data"
    daemon_config(agent, data)
    publish(data, [script_item("d1", "#!/bin/sh\necho once\n")])
    result = agent.run("run", "--once")
    assert result.returncode == 0, result.stderr
    assert agent.notify("d1")["deploy_stdout"] == "once\n"


def test_run_once_without_any_metadata_source_says_so_and_exits_6(tmp_path):
    agent = Agent(tmp_path)
    agent.configure(cfn_init_data=tmp_path / "absent", os_collect_config=tmp_path / "absent.conf")
    result = agent.run("run", "--once")
    assert result.returncode == 6
    assert "no metadata source is configured" in result.stderr


def test_daemon_runs_new_deployments_published_while_it_polls(tmp_path):
    agent = Agent(tmp_path)
    data = tmp_path / "local-data"
    first = script_item("d1", "#!/bin/sh\necho first\n")
    with running_daemon(agent, data, [first]) as daemon:
        wait_for(lambda: finished(agent, "d1"), timeout=20, what="the first deployment")
        publish(data, [first, script_item("d2", "#!/bin/sh\necho second\n")])
        wait_for(lambda: finished(agent, "d2"), timeout=20, what="the deployment published later")
        assert agent.notify("d2")["deploy_stdout"] == "second\n"
        assert daemon.poll() is None


def test_daemon_survives_sighup_and_stops_cleanly_on_sigterm(tmp_path):
    agent = Agent(tmp_path)
    data = tmp_path / "local-data"
    daemon_config(agent, data)
    publish(data, [])
    daemon = start_daemon(agent)
    try:
        time.sleep(1.0)
        daemon.send_signal(signal.SIGHUP)
        publish(data, [script_item("after-hup", "#!/bin/sh\necho still polling\n")])
        wait_for(lambda: finished(agent, "after-hup"), timeout=20, what="a deployment after SIGHUP")
        assert daemon.poll() is None, "SIGHUP must not stop the daemon"
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=20)
        _, stderr = daemon.communicate()
    assert code == 0
    assert "settings reloaded" in stderr
    assert "each hook in its own cgroup" in stderr or "hooks in their own process group (" in stderr, \
        "the start-up line must say how hooks are stopped on timeout"
    assert "received SIGTERM" in stderr


def test_daemon_lets_a_running_hook_finish_on_sigterm(tmp_path):
    agent = Agent(tmp_path)
    data = tmp_path / "local-data"
    daemon_config(agent, data)
    started = tmp_path / "started"
    publish(data, [script_item("slow", f"#!/bin/sh\ntouch {started}\nsleep 1\necho finished\n")])
    daemon = start_daemon(agent)
    wait_for(started.exists, timeout=20, what="the slow hook to start")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    assert agent.notify("slow")["deploy_stdout"] == "finished\n"
    assert agent.record("slow")["state"] == "finished"


def test_a_second_agent_on_the_same_state_is_refused(tmp_path):
    agent = Agent(tmp_path)
    with running_daemon(agent, tmp_path / "local-data", []):
        time.sleep(1.0)
        second = agent.run("run", "--once")
        assert second.returncode == 5
        assert "another stoker" in second.stderr


def test_rerun_on_a_running_daemon_takes_effect_at_its_next_poll_without_a_metadata_change(tmp_path):
    agent = Agent(tmp_path)
    runs = tmp_path / "runs"
    create = script_item("c1", f"#!/bin/sh\necho create >> {runs}\n", name="10_app", action="CREATE")
    update = script_item("u1", f"#!/bin/sh\necho update >> {runs}\n", name="10_app", action="UPDATE")
    with running_daemon(agent, tmp_path / "local-data", [create]) as daemon:
        wait_for(lambda: finished(agent, "c1"), timeout=20, what="the CREATE deployment")
        publish(tmp_path / "local-data", [update])
        wait_for(lambda: finished(agent, "u1"), timeout=20, what="the UPDATE deployment")
        rerun = agent.rerun("10_app")
        assert rerun.returncode == 0, rerun.stderr
        assert "next poll" in rerun.stdout
        wait_for(lambda: runs.read_text().count("update") == 2, timeout=20,
                 what="the rerun to happen while the daemon runs (the metadata did not change)")
        assert runs.read_text() == "create\nupdate\nupdate\n", \
            "rerun by name must pick the newest deployment of that name (the UPDATE), and only it"
        assert daemon.poll() is None
