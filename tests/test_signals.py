"""Signals reach Heat, exactly once, through every transport (issue 3).

Every test runs ``stoker`` (or ``heat-config-notify``) as a real process against the
loopback cloud (tests/loopback), whose servers check pre-signed URLs, TempURL signatures
and Keystone tokens like the real services and record every request they get. Nothing of
the machine's own configuration is read: each test writes a config file that points
``cfn_init_data`` and ``os_collect_config`` at paths under its temporary directory.
The Retry-After tests call the transports in this process instead, to look at the
error a refusal raises.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Mapping

import pytest

from tests.agent_helpers import VENV_BIN, Agent, kill_quietly, wait_for
from tests.loopback import Cloud

pytestmark = pytest.mark.contract

SCRIPT_OK = "#!/bin/sh\necho hello from {ident}\n"


# ------------------------------------------------------------------ helpers shared with test_polling

def write_config(agent: Agent, sections: Mapping[str, Mapping[str, Any]] | None = None,
                 **defaults: Any) -> Path:
    """A stoker.conf for this test only: short timings, no file of the machine's read.

    ``sections`` are transport sections (``cfn``, ``heat``, ``request``) with their keys.
    """
    keys: dict[str, Any] = {
        "polling_interval": 1, "min_polling_interval": 0.1, "signal_wait": 10, "timeout": 5,
        "hook_timeout": 60, "cfn_init_data": agent.root / "absent-cfn-init-data",
        "os_collect_config": agent.root / "absent-os-collect-config.conf",
        "cfn_metadata_server": agent.root / "absent-cfn-metadata-server",
        "shell_config": agent.root / "absent-heat-config", **defaults}
    lines = ["[DEFAULT]", *(f"{k} = {v}" for k, v in keys.items())]
    for name, values in (sections or {}).items():
        lines += ["", f"[{name}]", *(f"{k} = {v}" for k, v in values.items())]
    agent.config_file = agent.root / "stoker.conf"
    agent.config_file.write_text("\n".join(lines) + "\n")
    return agent.config_file


def deployment(cloud: Cloud, ident: str, script: str | None = None, transport: str = "CFN_SIGNAL",
               resource: str | None = None, drop: Iterable[str] = (),
               **overrides: Any) -> dict[str, Any]:
    """A ``group: script`` item as Heat sends it, with the ``deploy_*`` inputs of ``transport``
    registered on the loopback servers (``resource`` names the deployment resource)."""
    inputs = [i for i in cloud.signal_inputs(transport, resource or f"dep-{ident}")
              if i["name"] not in set(drop)]
    for name, value in overrides.items():
        for entry in inputs:
            if entry["name"] == name:
                entry["value"] = value
    return {"id": ident, "name": f"{ident}", "group": "script",
            "creation_time": "2024-01-01T00:00:00Z",
            "config": script if script is not None else SCRIPT_OK.format(ident=ident),
            "options": None, "inputs": inputs, "outputs": None}


def document(items: list[dict[str, Any]], collect: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"os-collect-config": collect or {"collectors": ["local"]}, "deployments": items}


def signals_for(cloud: Cloud, resource: str) -> list:
    return [s for s in cloud.signals if s.resource == resource]


def signal_path(url: str) -> str:
    """The raw path of a signal URL, for faults and request counts aimed at one deployment."""
    return urllib.parse.urlsplit(url).path


def input_value(item: Mapping[str, Any], name: str) -> Any:
    return next(i["value"] for i in item["inputs"] if i["name"] == name)


class Process:
    """``stoker`` started in the background, stderr kept in a file (readable while it runs)."""

    def __init__(self, agent: Agent, *args: str, name: str = "agent") -> None:
        self.agent = agent
        self.log = agent.root / f"{name}-{time.monotonic_ns()}.stderr"
        with open(self.log, "wb") as err:
            self.popen = subprocess.Popen(agent.argv(*args), env=agent.env(), cwd=agent.root,
                                          stdout=subprocess.PIPE, stderr=err, start_new_session=True)

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer would."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            kill_quietly(self.popen.pid)

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout=timeout)


def status_json(agent: Agent) -> tuple[int, dict[str, Any], str]:
    result = agent.run("status", "--json")
    return result.returncode, json.loads(result.stdout), result.stdout


def apply(agent: Agent, items: list[dict[str, Any]], *args: str, timeout: float = 60):
    return agent.run("apply", str(agent.write_document(document(items))), *args, timeout=timeout)


def notify_command() -> list[str]:
    script = VENV_BIN / "heat-config-notify"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stoker.notify_cli"]


# ------------------------------------------------------------------ every transport

@pytest.mark.parametrize("transport,server", [("CFN_SIGNAL", "cfn"), ("TEMP_URL_SIGNAL", "swift"),
                                              ("HEAT_SIGNAL", "heat"), ("ZAQAR_SIGNAL", "zaqar")])
def test_apply_delivers_the_payload_through_each_signal_transport(tmp_path, cloud, transport, server):
    agent = Agent(tmp_path)
    write_config(agent)
    item = deployment(cloud, "d1", "#!/bin/sh\necho out-line\necho err-line >&2\nexit 0\n",
                      transport=transport, resource="dep-d1")
    result = apply(agent, [item], "--signal-wait", "20")
    assert result.returncode == 0, f"apply should deliver the {transport} signal:\n{result.stderr}"
    received = signals_for(cloud, "dep-d1")
    assert len(received) == 1, f"{transport}: the server should have exactly one signal, got {received}"
    assert received[0].transport == server
    payload = received[0].payload
    assert payload == agent.notify("d1"), "the server must receive exactly the recorded payload"
    assert payload["deploy_stdout"] == "out-line\n"
    assert payload["deploy_stderr"] == "err-line\n"
    assert payload["deploy_status_code"] == 0
    record = agent.record("d1")
    assert record["signal"]["state"] == "delivered" and record["signal"]["attempts"] == 1
    assert record["signal"]["transport"] == transport


def test_no_signal_records_that_none_is_owed_and_sends_nothing(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    result = apply(agent, [deployment(cloud, "quiet", transport="NO_SIGNAL")])
    assert result.returncode == 0, result.stderr
    assert "none owed (NO_SIGNAL)" in result.stdout
    assert agent.record("quiet")["signal"]["state"] == "none"
    assert cloud.signals == [], "NO_SIGNAL must not send anything"
    code, status, _ = status_json(agent)
    assert code == 0 and status["deployments"][0]["signal"]["state"] == "none"


@pytest.mark.parametrize("transport,server", [("CFN_SIGNAL", "cfn"), ("TEMP_URL_SIGNAL", "swift"),
                                              ("HEAT_SIGNAL", "heat"), ("ZAQAR_SIGNAL", "zaqar")])
def test_transport_is_chosen_from_the_deploy_inputs_when_deploy_signal_transport_is_absent(
        tmp_path, cloud, transport, server):
    agent = Agent(tmp_path)
    write_config(agent)
    item = deployment(cloud, "old", transport=transport, resource="dep-old",
                      drop=["deploy_signal_transport"])
    result = apply(agent, [item], "--signal-wait", "20")
    assert result.returncode == 0, result.stderr
    assert agent.record("old")["signal"]["transport"] == transport, \
        "an item without deploy_signal_transport must be signalled as upstream decides from its inputs"
    assert [s.transport for s in signals_for(cloud, "dep-old")] == [server]


# ------------------------------------------------------------------ durability

def _outage_item(cloud: Cloud) -> tuple[dict[str, Any], str]:
    item = deployment(cloud, "durable", transport="CFN_SIGNAL", resource="dep-durable")
    path = signal_path(input_value(item, "deploy_signal_id"))
    cloud.cfn.fail_next(503, count=None, method="POST", path=path)  # until cleared
    return item, path


def _attempts(cloud: Cloud, path: str) -> int:
    return len(cloud.cfn.requests_matching("POST", path))


def test_signal_survives_sigkill_of_apply_during_an_outage_and_arrives_exactly_once(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    item, path = _outage_item(cloud)
    agent.write_document(document([item]))
    first = Process(agent, "apply", str(agent.root / "metadata.json"), "--signal-wait", "60")
    try:
        wait_for(lambda: _attempts(cloud, path) >= 1, timeout=20, what="the first (503) attempt")
        first.kill()
        assert agent.record("durable")["signal"]["state"] == "pending"
        # Restarted while the endpoint still answers 503: the pending signal is tried again at once.
        before = _attempts(cloud, path)
        second = Process(agent, "apply", str(agent.root / "metadata.json"), "--signal-wait", "60")
        wait_for(lambda: _attempts(cloud, path) > before, timeout=20,
                 what="the restarted agent to retry the pending signal")
        assert cloud.signals == []
        cloud.cfn.faults.clear()  # the outage ends
        assert second.wait(timeout=30) == 0, second.stderr
    finally:
        for process in (first, locals().get("second")):
            if process is not None:
                kill_quietly(process.popen.pid)
    assert "nothing new to deploy" in second.popen.stdout.read().decode(), \
        "the restarted apply must not run the deployment again"
    time.sleep(0.5)
    assert len(signals_for(cloud, "dep-durable")) == 1, "the signal must arrive exactly once"
    assert agent.record("durable")["signal"]["state"] == "delivered"
    assert agent.notify("durable")["deploy_stdout"] == "hello from durable\n"


def test_signal_survives_sigkill_of_the_daemon_during_an_outage_and_arrives_exactly_once(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent, sections={"request": cloud.collect_section("POLL_TEMP_URL")})
    item, path = _outage_item(cloud)
    cloud.publish(document([item], cloud.os_collect_config("POLL_TEMP_URL")))
    first = Process(agent, "run")
    second = None
    try:
        wait_for(lambda: _attempts(cloud, path) >= 1, timeout=20, what="the first (503) attempt")
        first.kill()
        before = _attempts(cloud, path)
        second = Process(agent, "run")
        wait_for(lambda: _attempts(cloud, path) > before, timeout=20,
                 what="the restarted daemon to retry the pending signal")
        assert cloud.signals == []
        cloud.cfn.faults.clear()
        wait_for(lambda: signals_for(cloud, "dep-durable"), timeout=20, what="the signal after the outage")
        time.sleep(1.5)  # any duplicate would come now
        assert second.alive()
    finally:
        kill_quietly(first.popen.pid)
        if second is not None:
            second.stop()
    assert len(signals_for(cloud, "dep-durable")) == 1, "the signal must arrive exactly once"
    assert agent.record("durable")["signal"]["state"] == "delivered"
    assert agent.notify("durable")["deploy_stdout"] == "hello from durable\n", "the hook ran once"


# ------------------------------------------------------------------ refusals and secrets

def test_a_403_is_final_visible_in_status_and_nothing_secret_is_shown(tmp_path, cloud):
    agent = Agent(tmp_path)
    # Poll over cfn (so the agent holds the EC2 secret) and the Heat password is in play too.
    write_config(agent, sections={"cfn": cloud.collect_section("POLL_SERVER_CFN")})
    expired_cfn = cloud.cfn.make_signal_url(cloud.stack_name, "dep-expired", timestamp=time.time() - 3600)
    expired = deployment(cloud, "expired", transport="CFN_SIGNAL", resource="dep-expired",
                         deploy_signal_id=expired_cfn)
    expired_swift = cloud.swift.temp_url("PUT", cloud.project.id, "heat-signals", "gone",
                                         expires=int(time.time()) - 10)
    swift = deployment(cloud, "swift", transport="TEMP_URL_SIGNAL", resource="dep-swift",
                       deploy_signal_id=expired_swift)
    heat = deployment(cloud, "heat", transport="HEAT_SIGNAL", resource="dep-heat")
    heat_ok = deployment(cloud, "heatok", transport="HEAT_SIGNAL", resource="dep-heatok")
    cloud.heat.fail_next(403, count=None, method="POST", path=f"/v1/{cloud.project.id}/stacks/"
                         f"{cloud.stack_name}/{cloud.stack_id}/resources/dep-heat/")
    cloud.publish(document([expired, swift, heat, heat_ok], cloud.os_collect_config("POLL_SERVER_CFN")))
    result = agent.run("--log-level", "debug", "run", "--once", "--signal-wait", "10")
    assert result.returncode == 4, f"a refused signal is exit code 4 (status.UNDELIVERABLE):\n{result.stderr}"
    assert len(cloud.cfn.requests_matching("POST", signal_path(expired_cfn))) == 1, "a 403 is not retried"

    code, status, raw_json = status_json(agent)
    table = agent.run("status")
    assert code == 4 and table.returncode == 4
    rows = {row["key"]: row for row in status["deployments"]}
    cfn_signal = rows["expired"]["signal"]
    assert cfn_signal["state"] == "failed" and cfn_signal["http_status"] == 403
    assert "pre-signed CFN signal URL may have expired" in cfn_signal["last_error"], \
        f"a CFN 403 must say the pre-signed URL may have expired: {cfn_signal['last_error']!r}"
    assert rows["swift"]["signal"]["state"] == "failed" and rows["swift"]["signal"]["http_status"] == 401
    assert rows["heat"]["signal"]["state"] == "failed" and rows["heat"]["signal"]["http_status"] == 403
    assert rows["heatok"]["signal"]["state"] == "delivered"
    assert status["summary"]["signals_failed"] == 3 and status["summary"]["exit_code"] == 4
    assert "refused for good" in result.stdout or "failed" in table.stdout

    secrets = {
        "the stack user's password": cloud.user.password,
        "the EC2 secret key": cloud.ec2.secret,
        "the cfn signal URL's Signature": _query(expired_cfn, "Signature"),
        "the cfn signal URL's AWSAccessKeyId": _query(expired_cfn, "AWSAccessKeyId"),
        "the signal TempURL's temp_url_sig": _query(expired_swift, "temp_url_sig"),
    }
    shown = {"stderr of stoker run": result.stderr, "stdout of stoker run": result.stdout,
             "stoker status --json": raw_json, "stoker status": table.stdout + table.stderr}
    for what, secret in secrets.items():
        for variant in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            for where, text in shown.items():
                assert variant not in text, f"{what} appears in {where}"
    assert "***" in result.stderr, "the log should show masked values, not none at all"


def _query(url: str, name: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)[name][0]


TRANSIENT = [408, 429, 500, 502, 503, 504, "reset"]


def test_transient_failures_are_retried_with_backoff(tmp_path, cloud):
    """One deployment per kind of failure, each failing twice before it is accepted."""
    agent = Agent(tmp_path)
    write_config(agent)
    items, paths = [], {}
    for fault in TRANSIENT:
        item = deployment(cloud, f"flaky{fault}", transport="CFN_SIGNAL", resource=f"dep-flaky{fault}")
        paths[fault] = path = signal_path(input_value(item, "deploy_signal_id"))
        if fault == "reset":
            cloud.cfn.reset_next(count=2, method="POST", path=path)
        else:
            cloud.cfn.fail_next(fault, count=2, method="POST", path=path)
        items.append(item)
    result = apply(agent, items, "--signal-wait", "20")
    assert result.returncode == 0, f"every transient failure must be retried until delivered:\n{result.stderr}"
    for fault, path in paths.items():
        attempts = cloud.cfn.requests_matching("POST", path)
        assert len(attempts) == 3, f"{fault}: two failures then success make 3 requests, got {len(attempts)}"
        assert len(signals_for(cloud, f"dep-flaky{fault}")) == 1, f"{fault}: delivered exactly once"
        first_gap = attempts[1].monotonic - attempts[0].monotonic
        second_gap = attempts[2].monotonic - attempts[1].monotonic
        assert first_gap >= 0.4, f"{fault}: the first retry came after {first_gap:.2f}s: no backoff"
        assert second_gap >= first_gap * 0.9, \
            f"{fault}: the delay should grow (exponential backoff): {first_gap:.2f}s then {second_gap:.2f}s"
        assert agent.record(f"flaky{fault}")["signal"]["attempts"] == 3


FINAL = [400, 401, 404, 409, 413, 422]


def test_other_client_errors_are_final_and_not_retried(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    items, paths = [], {}
    for status in FINAL:
        item = deployment(cloud, f"refused{status}", transport="CFN_SIGNAL", resource=f"dep-refused{status}")
        paths[status] = path = signal_path(input_value(item, "deploy_signal_id"))
        cloud.cfn.fail_next(status, count=None, method="POST", path=path)
        items.append(item)
    result = apply(agent, items, "--signal-wait", "5")
    assert result.returncode == 4, f"refused signals are exit code 4:\n{result.stderr}"
    time.sleep(1.2)  # a (wrong) retry would come after about a second
    for status, path in paths.items():
        assert len(cloud.cfn.requests_matching("POST", path)) == 1, f"a {status} must not be retried"
        signal_state = agent.record(f"refused{status}")["signal"]
        assert signal_state["state"] == "failed" and signal_state["http_status"] == status, signal_state
        assert f"signal for refused{status} failed for good" in result.stderr
    assert cloud.signals == []


# ------------------------------------------------------------------ size and concurrency

def test_twenty_megabytes_of_output_are_trimmed_under_heats_limit_keeping_the_tail(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    script = ("#!/bin/sh\n"
              "head -c 20000000 /dev/zero | tr '\\0' 'x' | fold -w 99\n"
              "echo 'second to last line'\n"
              "echo 'THE LAST LINE'\n")
    result = apply(agent, [deployment(cloud, "big", script, transport="CFN_SIGNAL", resource="dep-big")],
                   "--signal-wait", "20", timeout=120)
    assert result.returncode == 0, result.stderr
    received = signals_for(cloud, "dep-big")
    assert len(received) == 1, "the trimmed signal must be accepted (heat-api-cfn refuses > 1 MiB)"
    body = received[0].body
    assert len(body) <= 1_000_000, f"signal body is {len(body)} bytes"
    stdout = received[0].payload["deploy_stdout"]
    assert stdout.endswith("second to last line\nTHE LAST LINE\n")
    note = re.match(r"\[stoker: (\d+) bytes cut above", stdout)
    assert note, f"deploy_stdout must start by saying how much was cut: {stdout[:120]!r}"
    assert 19_000_000 <= int(note.group(1)) <= 20_300_000, note.group(0)


def test_a_slow_signal_does_not_hold_up_the_next_deployment(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    first = deployment(cloud, "first", transport="CFN_SIGNAL", resource="dep-first")
    started = tmp_path / "second-started"
    second = deployment(cloud, "second", f"#!/bin/sh\npython3 -c 'import time; print(time.time())' > {started}\n",
                        transport="CFN_SIGNAL", resource="dep-second")
    cloud.cfn.delay_next(2.0, method="POST", path=signal_path(input_value(first, "deploy_signal_id")))
    delivered: dict[str, float] = {}
    cloud.on_signal(lambda s: delivered.setdefault(s.resource, time.time()))
    result = apply(agent, [first, second], "--signal-wait", "20")
    assert result.returncode == 0, result.stderr
    second_start = float(started.read_text())
    assert second_start < delivered["dep-first"] - 0.8, \
        "the second hook must start while the first signal is still on its way"
    assert set(delivered) == {"dep-first", "dep-second"}


# ------------------------------------------------------------------ heat-config-notify

def _notify(agent: Agent, item: dict[str, Any], body: dict[str, Any], *args: str):
    agent.deployed.mkdir(parents=True, exist_ok=True)
    item_file = agent.deployed / f"{item['id']}.json"
    item_file.write_text(json.dumps(item))
    return subprocess.run(notify_command() + [str(item_file), *args], input=json.dumps(body).encode(),
                          env=agent.env(), capture_output=True, timeout=60, cwd=agent.root)


@pytest.mark.parametrize("transport", ["CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "ZAQAR_SIGNAL"])
def test_heat_config_notify_delivers_like_upstream_and_exits_zero(tmp_path, cloud, transport):
    agent = Agent(tmp_path)
    write_config(agent)
    item = deployment(cloud, "n1", transport=transport, resource="dep-n1")
    body = {"deploy_stdout": "done\n", "deploy_stderr": "", "deploy_status_code": 0, "result": "42"}
    result = _notify(agent, item, body)
    assert result.returncode == 0, result.stderr.decode()
    received = signals_for(cloud, "dep-n1")
    assert [s.payload for s in received] == [body]


def test_heat_config_notify_exits_non_zero_when_the_signal_is_refused(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    url = cloud.cfn.make_signal_url(cloud.stack_name, "dep-n2", timestamp=time.time() - 3600)
    item = deployment(cloud, "n2", transport="CFN_SIGNAL", resource="dep-n2", deploy_signal_id=url)
    result = _notify(agent, item, {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0})
    assert result.returncode != 0, "upstream exits 0 here; stoker must say the signal was not delivered"
    stderr = result.stderr.decode()
    assert "403" in stderr and "not delivered" in stderr
    assert _query(url, "Signature") not in stderr and urllib.parse.quote(_query(url, "Signature"), safe="") not in stderr
    assert cloud.signals == []


def test_heat_config_notify_retries_a_transient_failure(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    item = deployment(cloud, "n3", transport="CFN_SIGNAL", resource="dep-n3")
    cloud.cfn.fail_next(503, count=1, method="POST", path=signal_path(input_value(item, "deploy_signal_id")))
    result = _notify(agent, item, {"deploy_stdout": "x", "deploy_stderr": "", "deploy_status_code": 0},
                     "--retry-for", "10")
    assert result.returncode == 0, result.stderr.decode()
    assert len(signals_for(cloud, "dep-n3")) == 1


# ------------------------------------------------------------------ Retry-After

def _refused(cfn_server, status: int, retry_after: str | None = None):
    """The SignalError of one CFN signal answered ``status`` (with ``Retry-After`` when given)."""
    from stoker.signals import CFN, SendContext, SignalError, send

    url = cfn_server.make_signal_url("retry-stack", "dep-retry")
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    cfn_server.fail_next(status, method="POST", path=signal_path(url), headers=headers)
    with pytest.raises(SignalError) as caught:
        send(CFN, {"deploy_signal_id": url}, b"{}", SendContext(timeout=5))
    assert cfn_server.requests[-1].status == status, "the fault must have answered"
    return caught.value


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_how_long_the_endpoint_asks_to_wait(cfn_server, status):
    err = _refused(cfn_server, status, "7")
    assert err.transient and err.status == status
    assert err.retry_after == 7.0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_the_wait_until_that_date(cfn_server, status):
    import email.utils

    err = _refused(cfn_server, status, email.utils.formatdate(time.time() + 30, usegmt=True))
    assert err.transient and err.status == status
    # The date has whole seconds and the request took a moment: 28 to 30 seconds remain.
    assert err.retry_after is not None and 28.0 <= err.retry_after <= 30.0, err.retry_after


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "Mon, 99 Foo 2024 99:99:99 GMT",
                                   "Sun, 06 Nov 1994 08:49:37 GMT"])
def test_unusable_retry_after_leaves_the_wait_to_the_backoff(cfn_server, status, value):
    """Garbage, a negative or fractional number and a date in the past all mean: no advice."""
    err = _refused(cfn_server, status, value)
    assert err.transient and err.status == status
    assert err.retry_after is None, f"Retry-After {value!r} gave {err.retry_after!r}"


@pytest.mark.parametrize("status", [429, 503])
def test_a_transient_refusal_without_retry_after_has_no_wait_of_its_own(cfn_server, status):
    err = _refused(cfn_server, status)
    assert err.transient and err.status == status and err.retry_after is None


@pytest.mark.parametrize("value", ["86400", "99999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_retry_after_never_holds_a_signal_back_more_than_an_hour(cfn_server, value):
    assert _refused(cfn_server, 503, value).retry_after == 3600.0


def test_retry_after_on_a_final_refusal_is_ignored(cfn_server):
    """A 400 is not retried at all, so a wait it names means nothing."""
    err = _refused(cfn_server, 400, "5")
    assert not err.transient and err.retry_after is None


def test_a_connection_failure_carries_no_retry_after(cfn_server):
    from stoker.signals import CFN, SendContext, SignalError, send

    url = cfn_server.make_signal_url("retry-stack", "dep-reset")
    cfn_server.reset_next(method="POST", path=signal_path(url))
    with pytest.raises(SignalError) as caught:
        send(CFN, {"deploy_signal_id": url}, b"{}", SendContext(timeout=5))
    assert caught.value.transient and caught.value.status is None and caught.value.retry_after is None


@pytest.mark.parametrize("date", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                  "Sun Nov  6 08:49:37 1994"])
def test_retry_after_reads_every_http_date_form(date):
    from stoker.signals.http_common import retry_after

    issued = 784111777.0  # 1994-11-06 08:49:37 UTC
    assert retry_after(date, now=issued - 10) == 10.0
    assert retry_after(date, now=issued + 10) is None, "a date already past is no advice"


def test_a_signal_error_without_retry_after_keeps_working_for_old_callers():
    from stoker.signals import SignalError

    err = SignalError("refused", True, 503)
    assert (err.transient, err.status, err.retry_after) == (True, 503, None)


def test_heat_config_notify_waits_as_long_as_retry_after_asks(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    item = deployment(cloud, "n4", transport="CFN_SIGNAL", resource="dep-n4")
    path = signal_path(input_value(item, "deploy_signal_id"))
    cloud.cfn.fail_next(503, count=1, method="POST", path=path, headers={"Retry-After": "2"})
    result = _notify(agent, item, {"deploy_stdout": "x", "deploy_stderr": "", "deploy_status_code": 0},
                     "--retry-for", "10")
    assert result.returncode == 0, result.stderr.decode()
    attempts = cloud.cfn.requests_matching("POST", path)
    assert len(attempts) == 2 and len(signals_for(cloud, "dep-n4")) == 1
    gap = attempts[1].monotonic - attempts[0].monotonic
    assert 1.9 <= gap <= 5, f"the retry came {gap:.2f}s after a 503 that asked for 2s"


def test_heat_config_notify_gives_up_at_once_when_retry_after_is_beyond_retry_for(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    item = deployment(cloud, "n5", transport="CFN_SIGNAL", resource="dep-n5")
    path = signal_path(input_value(item, "deploy_signal_id"))
    cloud.cfn.fail_next(503, count=None, method="POST", path=path, headers={"Retry-After": "120"})
    started = time.monotonic()
    result = _notify(agent, item, {"deploy_stdout": "x", "deploy_stderr": "", "deploy_status_code": 0},
                     "--retry-for", "5")
    assert result.returncode == 1, result.stderr.decode()
    assert time.monotonic() - started < 5, "waiting would end after --retry-for: give up instead"
    assert len(cloud.cfn.requests_matching("POST", path)) == 1
    assert "not delivered" in result.stderr.decode()


# ------------------------------------------------------------------ a token refused early

def test_a_zaqar_signal_whose_token_is_refused_logs_in_again_and_is_delivered(cloud):
    """Keystone said the cached token was fresh, but Zaqar answers 401 (it was revoked): the signal
    logs in once more and goes out, instead of failing for good (keystone.token_request)."""
    from stoker.signals import ZAQAR, SendContext, send

    context = SendContext(timeout=5)
    send(ZAQAR, signal_values(cloud, "dep-zaqar-first"), b'{"deploy_status_code": 0}', context)
    logins = len(cloud.keystone.requests_matching("POST", "/v3/auth/tokens"))
    cloud.tokens.revoke_all()  # the session's token is now refused with 401

    send(ZAQAR, signal_values(cloud, "dep-zaqar-again"), b'{"deploy_status_code": 0}', context)
    posts = [r.status for r in cloud.zaqar.requests_matching("POST", "/v2/queues/dep-zaqar-again-signal/")]
    assert posts == [401, 201], f"one refusal, then delivery after a fresh login: {posts}"
    assert len(cloud.keystone.requests_matching("POST", "/v3/auth/tokens")) == logins + 1
    assert [s.payload for s in signals_for(cloud, "dep-zaqar-again")] == [{"deploy_status_code": 0}]


def signal_values(cloud: Cloud, resource: str) -> dict[str, Any]:
    """The ``deploy_*`` inputs of a ZAQAR_SIGNAL deployment as the transports read them."""
    return {entry["name"]: entry["value"] for entry in cloud.signal_inputs("ZAQAR_SIGNAL", resource)}
