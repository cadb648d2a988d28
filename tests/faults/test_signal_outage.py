"""Signals after an outage of the signal endpoint: delivered once, and soon after it is back.

Heat's API going away for a while (an upgrade, a failover) is ordinary; what
matters is that each deployment's signal still reaches Heat exactly once, and
quickly enough once the API answers again that the stack does not sit waiting
on a backoff that grew during the outage. The endpoint is the loopback
heat-api-cfn in this process, so its records and the test share one monotonic
clock; the agent runs as real ``stoker`` processes, stopped and restarted
while the outage lasts.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agent_helpers import Agent, document, kill_quietly, script_item, wait_for
from tests.loopback.cfn import CfnServer

OUTAGE = 120.0
RECOVERY_BOUND = 60.0
FIRST_DAEMON_UNTIL = 50.0
PENDING = 3  # stoker's exit code while a signal is still owed
STACK = "outage-stack"


def configure(agent: Agent, data_dir: Path, signal_wait: float = 20) -> None:
    """Short polling, the ``local`` source only, and the default 24-hour signal retry period."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    keys = {"polling_interval": 2, "min_polling_interval": 0.2, "signal_wait": signal_wait, "timeout": 5,
            "cfn_init_data": agent.root / "absent-cfn-init-data",
            "os_collect_config": agent.root / "absent-os-collect-config.conf"}
    lines = ["[DEFAULT]", *(f"{k} = {v}" for k, v in keys.items()), "collectors = local",
             "", "[local]", f"path = {data_dir}"]
    agent.config_file = agent.root / "stoker.conf"
    agent.config_file.write_text("\n".join(lines) + "\n")


def publish(agent: Agent, data_dir: Path, items: list[dict[str, Any]]) -> Path:
    """The same document for ``stoker apply`` (a file) and ``stoker run`` (the local source)."""
    text = json.dumps(document(items))
    (data_dir / "metadata.json").write_text(text)
    (data_dir / "metadata.json").chmod(0o600)
    return agent.write_document(text)


def signalled_item(cfn_server: CfnServer, agent: Agent, ident: str) -> tuple[dict[str, Any], str]:
    """A script deployment with a CFN_SIGNAL URL; its hook counts its runs in ``<ident>.runs``."""
    url = cfn_server.make_signal_url(STACK, f"dep-{ident}")
    script = f"#!/bin/sh\necho run >> {agent.root / (ident + '.runs')}\necho hello from {ident}\n"
    item = script_item(ident, script, transport="CFN_SIGNAL",
                       inputs=[{"name": "deploy_signal_id", "value": url}])
    return item, urllib.parse.urlsplit(url).path


@dataclass
class Stoker:
    """``stoker`` running in the background, its stderr kept in a file to show when a check fails."""

    popen: subprocess.Popen
    log: Path

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as a supervisor restarting the agent sends it."""
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=30)


def start(agent: Agent, *args: str) -> Stoker:
    log = agent.root / f"stoker-{time.monotonic_ns()}.stderr"
    with open(log, "wb") as err:
        popen = subprocess.Popen(agent.argv(*args), env=agent.env(), cwd=agent.root,
                                 stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    return Stoker(popen, log)


def attempts(cfn_server: CfnServer, path: str) -> int:
    return len(cfn_server.requests_matching("POST", path))


def wait_for_retry(cfn_server: CfnServer, path: str, what: str) -> None:
    """A (re)started agent tries a pending signal at once, outage or not."""
    before = attempts(cfn_server, path)
    wait_for(lambda: attempts(cfn_server, path) > before, timeout=30, interval=0.1, what=what)


def hook_runs(agent: Agent, ident: str) -> int:
    runs = agent.root / f"{ident}.runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def signals_for(cfn_server: CfnServer, resource: str) -> list:
    return [s for s in cfn_server.signals if s.resource == resource]


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.mark.faults
@pytest.mark.slow
def test_a_two_minute_outage_across_two_restarts_is_signalled_once_within_a_minute_of_recovery(
        tmp_path, cfn_server):
    """``apply`` gives up waiting at 20 s, a daemon runs until 50 s, a second one from then on.

    Each start retries at once and adds to the attempt count, so by the time
    the endpoint is back (120 s) the backoff has reached its cap: that cap, not
    luck, is what must bring the signal within a minute.
    """
    agent = Agent(tmp_path)
    data = tmp_path / "local-data"
    configure(agent, data)
    item, path = signalled_item(cfn_server, agent, "outage")
    metadata = publish(agent, data, [item])
    outage_start = time.monotonic()
    cfn_server.fail_next(503, count=None, method="POST", path=path)  # until cleared
    processes: list[Stoker] = []
    try:
        first = start(agent, "apply", str(metadata), "--signal-wait", "20")
        processes.append(first)
        assert first.popen.wait(timeout=90) == PENDING, f"apply must exit with the signal pending:\n{first.stderr}"
        assert agent.record("outage")["signal"]["state"] == "pending"

        restarted = start(agent, "run")
        processes.append(restarted)
        wait_for_retry(cfn_server, path, "the first restart to retry the pending signal")
        sleep_until(outage_start + FIRST_DAEMON_UNTIL)
        assert restarted.stop() == 0, restarted.stderr

        daemon = start(agent, "run")
        processes.append(daemon)
        wait_for_retry(cfn_server, path, "the second restart to retry the pending signal")
        sleep_until(outage_start + OUTAGE)
        assert cfn_server.signals == [], "nothing can be delivered during the outage"
        pending = agent.record("outage")["signal"]
        assert pending["state"] == "pending", pending
        assert pending["deadline"] - time.time() > 23 * 3600, "the 24-hour give-up must still be far off"

        cfn_server.faults.clear()  # the endpoint is back
        recovered_at = time.monotonic()
        # Long enough to measure even an uncapped five-minute backoff, rather than time out blind.
        wait_for(lambda: signals_for(cfn_server, "dep-outage"), timeout=330, interval=0.1,
                 what="the signal after the outage")
        time.sleep(3)  # a duplicate would come now
        assert daemon.popen.poll() is None, f"the daemon must keep running:\n{daemon.stderr}"
    finally:
        for process in processes:
            kill_quietly(process.popen.pid)
    received = signals_for(cfn_server, "dep-outage")
    assert len(received) == 1, f"the signal must arrive exactly once, got {len(received)}"
    assert received[0].payload["deploy_stdout"] == "hello from outage\n"
    assert hook_runs(agent, "outage") == 1, "no restart may run the deployment again"
    assert agent.record("outage")["signal"]["state"] == "delivered"
    delay = received[0].monotonic - recovered_at
    print(f"signal delivered {delay:.1f}s after the endpoint came back "
          f"({attempts(cfn_server, path)} attempts in all)")
    assert delay <= RECOVERY_BOUND, \
        f"the signal arrived {delay:.1f}s after the endpoint came back (at most {RECOVERY_BOUND:.0f}s allowed)"


@pytest.mark.faults
def test_a_running_daemon_retries_when_retry_after_says_and_not_before(tmp_path, cfn_server):
    agent = Agent(tmp_path)
    data = tmp_path / "local-data"
    configure(agent, data, signal_wait=10)
    item, path = signalled_item(cfn_server, agent, "busy")
    cfn_server.fail_next(503, count=1, method="POST", path=path, headers={"Retry-After": "2"})
    publish(agent, data, [item])
    daemon = start(agent, "run")
    try:
        wait_for(lambda: signals_for(cfn_server, "dep-busy"), timeout=30, interval=0.05,
                 what="the signal after the 503")
        time.sleep(1)  # a duplicate would come now
        assert daemon.stop() == 0, daemon.stderr
    finally:
        kill_quietly(daemon.popen.pid)
    requests = cfn_server.requests_matching("POST", path)
    assert [r.status for r in requests] == [503, 200], "one refusal, then one delivery"
    refused = requests[0]
    received = signals_for(cfn_server, "dep-busy")
    assert len(received) == 1
    gap = received[0].monotonic - refused.monotonic
    assert 1.5 <= gap <= 10, f"the signal went out {gap:.2f}s after a 503 asking to retry in 2s"
