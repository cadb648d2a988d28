"""Polling: bootstrap, following Heat's transport switches, surviving bad answers, cheap
unchanged polls, quick pick-up after a signal, and the classic chain (issue 4).

``stoker run`` (and ``stoker dispatch`` under the real os-collect-config) runs as a real
process against the loopback cloud (tests/loopback), whose servers check AWS v2
signatures, TempURL signatures and Keystone tokens. Each test writes its own config, so
no file of the machine's own (cfn-init-data, /etc/os-collect-config.conf) is ever read.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.agent_helpers import REPO, Agent, wait_for
from tests.loopback import Cloud
from tests.loopback.cloud import METADATA_CONTAINER
from tests.test_signals import Process, deployment, document, signals_for, write_config

pytestmark = pytest.mark.contract

OCC_VENV = Path(os.environ.get("OCC_VENV", REPO / ".occ-venv"))


# ------------------------------------------------------------------ what the servers saw

def cfn_polls(cloud: Cloud) -> list:
    return cloud.cfn.requests_matching("GET", "/v1/")


def swift_polls(cloud: Cloud) -> list:
    return cloud.swift.requests_matching(
        "GET", f"/v1/AUTH_{cloud.project.id}/{METADATA_CONTAINER}/{cloud.server_resource}")


def heat_polls(cloud: Cloud) -> list:
    return [r for r in cloud.heat.requests_matching("GET", f"/v1/{cloud.project.id}/stacks/")
            if r.path.endswith("/metadata")]


def delivered(cloud: Cloud, ident: str) -> Callable[[], bool]:
    return lambda: bool(signals_for(cloud, f"dep-{ident}"))


def stays_the_same(count: Callable[[], int], seconds: float) -> bool:
    before = count()
    time.sleep(seconds)
    return count() == before


# ------------------------------------------------------------------ bootstrap and transport switches

def test_bootstraps_from_cfn_init_data_follows_transport_switches_and_resumes_with_the_latest(tmp_path, cloud):
    agent = Agent(tmp_path)
    init = tmp_path / "cfn-init-data"
    cfn = cloud.os_collect_config("POLL_SERVER_CFN")
    d0 = deployment(cloud, "d0", transport="CFN_SIGNAL")  # already in the user-data at boot
    init.write_text(json.dumps(document([d0], cfn)))
    write_config(agent, cfn_init_data=init)

    d1 = deployment(cloud, "d1", transport="CFN_SIGNAL")
    cloud.publish(document([d0, d1], cfn))
    daemon = Process(agent, "run")
    try:
        wait_for(delivered(cloud, "d1"), timeout=20, what="d1, found by polling heat-api-cfn")
        assert delivered(cloud, "d0")(), "the deployment in cfn-init-data runs and is signalled"
        assert cfn_polls(cloud), "the agent must poll the cfn transport named by cfn-init-data"
        assert all(r.status == 200 for r in cfn_polls(cloud)), "every cfn poll is correctly signed"

        # Heat switches the server to POLL_TEMP_URL: the cfn section stays behind, all null.
        d2 = deployment(cloud, "d2", transport="TEMP_URL_SIGNAL")
        cloud.publish(document([d0, d1, d2], cloud.os_collect_config("POLL_TEMP_URL", null_others=True)))
        wait_for(delivered(cloud, "d2"), timeout=20, what="d2, published with the switch to TempURL")
        wait_for(lambda: swift_polls(cloud), timeout=10, what="polls of the Swift TempURL")
        assert stays_the_same(lambda: len(cfn_polls(cloud)), 1.5), "cfn polling must stop after the switch"

        # ... and then to POLL_SERVER_HEAT.
        d3 = deployment(cloud, "d3", transport="HEAT_SIGNAL")
        cloud.publish(document([d0, d1, d2, d3], cloud.os_collect_config("POLL_SERVER_HEAT", null_others=True)))
        wait_for(delivered(cloud, "d3"), timeout=20, what="d3, published with the switch to Heat")
        wait_for(lambda: heat_polls(cloud), timeout=10, what="polls of Heat's resource metadata")
        assert stays_the_same(lambda: len(swift_polls(cloud)), 1.5), "TempURL polling must stop after the switch"
        assert daemon.alive()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.stderr
    assert daemon.stderr.count("metadata source changed") == 2, daemon.stderr

    # A restart (reboot) resumes with the learned transport, not the bootstrap file's cfn.
    for server in cloud.servers.values():
        server.clear_requests()
    d4 = deployment(cloud, "d4", transport="HEAT_SIGNAL")
    cloud.publish(document([d0, d1, d2, d3, d4], cloud.os_collect_config("POLL_SERVER_HEAT", null_others=True)))
    again = Process(agent, "run")
    try:
        wait_for(delivered(cloud, "d4"), timeout=20, what="d4 after the restart")
    finally:
        assert again.stop() == 0, again.stderr
    assert heat_polls(cloud) and not cfn_polls(cloud) and not swift_polls(cloud), \
        "after a restart the agent must poll the transport it learned last (heat), not cfn-init-data's"
    for ident in ("d0", "d1", "d2", "d3", "d4"):
        assert len(signals_for(cloud, f"dep-{ident}")) == 1, f"{ident} must run and signal exactly once"


def first_boot_once(tmp_path: Path, cloud: Cloud, collect: dict) -> tuple[Agent, Path]:
    """A first boot: cfn-init-data names ``collect``'s transport, Heat has published d1 there,
    and ``stoker run --once`` must apply and signal it. Returns the agent and cfn-init-data."""
    agent = Agent(tmp_path)
    init = tmp_path / "cfn-init-data"
    init.write_text(json.dumps(document([], collect)))
    write_config(agent, cfn_init_data=init)
    cloud.publish(document([deployment(cloud, "d1", transport="CFN_SIGNAL")], collect))
    result = agent.run("run", "--once", "--signal-wait", "10")
    assert result.returncode == 0, result.stderr
    assert delivered(cloud, "d1")()
    return agent, init


@pytest.mark.parametrize("transport", ["POLL_SERVER_HEAT", "POLL_TEMP_URL"])
def test_bootstraps_from_cfn_init_data_naming_other_transports(tmp_path, cloud, transport):
    first_boot_once(tmp_path, cloud, cloud.os_collect_config(transport, null_others=True))
    polls = heat_polls(cloud) if transport == "POLL_SERVER_HEAT" else swift_polls(cloud)
    assert polls and not cfn_polls(cloud)


# ------------------------------------------------------------------ bad answers

XML_WITHOUT_METADATA = (b"<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail>"
                        b"<LogicalResourceId>server</LogicalResourceId><ResourceStatus>CREATE_COMPLETE"
                        b"</ResourceStatus></StackResourceDetail></DescribeStackResourceResult>"
                        b"</DescribeStackResourceResponse>")


def _swift_fault(status: int, body: bytes = b"") -> Callable[[Cloud], Callable[[], None]]:
    def inject(cloud: Cloud) -> Callable[[], None]:
        cloud.swift.fail_next(status, count=None, method="GET",
                              path=f"/v1/AUTH_{cloud.project.id}/{METADATA_CONTAINER}/", body=body)
        return cloud.swift.faults.clear
    return inject


def _wrong_cfn_secret(cloud: Cloud) -> Callable[[], None]:
    """heat-api-cfn no longer accepts the agent's secret (signatures stop matching)."""
    cloud.cfn.add_credentials(cloud.ec2.access, "rotated-" + cloud.ec2.secret, stack=cloud.stack_name)
    return lambda: cloud.cfn.add_credentials(cloud.ec2.access, cloud.ec2.secret, stack=cloud.stack_name)


def _wrong_heat_password(cloud: Cloud) -> Callable[[], None]:
    """Keystone no longer accepts the password the agent was given."""
    right = cloud.user.password
    cloud.user.password = "changed-" + right
    return lambda: setattr(cloud.user, "password", right)


def _cfn_xml_without_metadata(cloud: Cloud) -> Callable[[], None]:
    cloud.cfn.fail_next(200, count=None, method="GET", path="/v1/", body=XML_WITHOUT_METADATA)
    return cloud.cfn.faults.clear


FAULTS = {
    # name: (metadata transport, how to break it (returns how to mend it), what the log must say)
    "bad-signature": ("POLL_SERVER_CFN", _wrong_cfn_secret, "access denied"),
    "wrong-heat-password": ("POLL_SERVER_HEAT", _wrong_heat_password, "401"),
    "404": ("POLL_TEMP_URL", _swift_fault(404), "no such object"),
    "500": ("POLL_TEMP_URL", _swift_fault(500), "HTTP 500"),
    "invalid-json": ("POLL_TEMP_URL", _swift_fault(200, b'{"deployments": [{"id": '), "not valid JSON"),
    "xml-without-metadata": ("POLL_SERVER_CFN", _cfn_xml_without_metadata, "no Metadata element"),
    "50-MB-body": ("POLL_TEMP_URL", _swift_fault(200, b" " * (50 * 1024 * 1024)), "larger than"),
}


def _polls(cloud: Cloud, transport: str) -> int:
    if transport == "POLL_SERVER_CFN":
        return len(cfn_polls(cloud))
    if transport == "POLL_SERVER_HEAT":
        return len(heat_polls(cloud)) + len(cloud.keystone.requests_matching("POST", "/v3/auth/tokens"))
    return len(swift_polls(cloud))


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_bad_answer_is_logged_clearly_and_polling_goes_on_until_it_recovers(tmp_path, cloud, fault):
    transport, inject, expected = FAULTS[fault]
    agent = Agent(tmp_path)
    collect = cloud.os_collect_config(transport)
    section = {"POLL_SERVER_CFN": "cfn", "POLL_SERVER_HEAT": "heat", "POLL_TEMP_URL": "request"}[transport]
    write_config(agent, sections={section: collect[section]}, polling_interval=0.5)
    cloud.publish(document([deployment(cloud, "d1", transport="CFN_SIGNAL")], collect))
    mend = inject(cloud)
    daemon = Process(agent, "run")
    try:
        wait_for(lambda: expected in daemon.stderr, timeout=20, what=f"the log to say {expected!r}")
        seen = _polls(cloud, transport)
        wait_for(lambda: _polls(cloud, transport) >= seen + 2, timeout=20,
                 what="the agent to keep polling after the error")
        assert daemon.alive(), f"the agent must survive {fault}:\n{daemon.stderr}"
        assert not delivered(cloud, "d1")()
        mend()
        wait_for(delivered(cloud, "d1"), timeout=20, what="the deployment once the source answers again")
    finally:
        code = daemon.stop()
    assert code == 0
    log = daemon.stderr
    assert "answering again" in log, log
    error_lines = [line for line in log.splitlines() if expected in line]
    assert all(" ERROR " in f" {line} " for line in error_lines), error_lines
    assert len(error_lines) <= 3, f"a failing source must not flood the log:\n{log}"
    for secret in (cloud.user.password, cloud.ec2.secret, "temp_url_sig=" + collect.get("request", {})
                   .get("metadata_url", "?temp_url_sig=none").split("temp_url_sig=")[1].split("&")[0]):
        assert secret not in log, "a credential or signature appears in the log"


# ------------------------------------------------------------------ cheap polls, quick pick-up

def test_unchanged_tempurl_document_costs_only_304s(tmp_path, cloud):
    agent = Agent(tmp_path)
    collect = cloud.os_collect_config("POLL_TEMP_URL")
    write_config(agent, sections={"request": collect["request"]}, polling_interval=0.2, min_polling_interval=0.1)
    cloud.publish(document([deployment(cloud, "d1", transport="TEMP_URL_SIGNAL")], collect))
    daemon = Process(agent, "run")
    try:
        wait_for(lambda: len(swift_polls(cloud)) >= 8, timeout=20, what="eight polls of the TempURL")
    finally:
        assert daemon.stop() == 0, daemon.stderr
    polls = swift_polls(cloud)
    assert polls[0].status == 200
    assert [r.status for r in polls[1:]] == [304] * (len(polls) - 1), \
        "an unchanged document must be answered 304 (conditional GET with the last ETag)"
    assert all(r.header("If-None-Match") for r in polls[1:])
    assert not cloud.swift.requests_matching("HEAD"), "no HEAD before GET (upstream's double request)"
    assert len(signals_for(cloud, "dep-d1")) == 1


def test_next_deployment_after_a_signal_is_picked_up_within_two_seconds(tmp_path, cloud):
    agent = Agent(tmp_path)
    collect = cloud.os_collect_config("POLL_TEMP_URL")
    # Both intervals at 30 s: only the quick poll after a delivered signal can explain a fast pick-up.
    write_config(agent, sections={"request": collect["request"]}, polling_interval=30, min_polling_interval=30)
    chain = [deployment(cloud, f"c{n}", transport="TEMP_URL_SIGNAL") for n in range(1, 4)]
    arrived: dict[str, float] = {}

    def publish_next(signal) -> None:  # Heat publishes the next deployment as soon as it gets a signal
        arrived[signal.resource] = time.monotonic()
        done = len(arrived)
        if done < len(chain):
            cloud.publish(document(chain[: done + 1], collect))

    cloud.on_signal(publish_next)
    cloud.publish(document(chain[:1], collect))
    daemon = Process(agent, "run")
    try:
        wait_for(lambda: len(arrived) == 3, timeout=20, what="the chain of three deployments")
    finally:
        assert daemon.stop() == 0, daemon.stderr
    for before, after in (("dep-c1", "dep-c2"), ("dep-c2", "dep-c3")):
        gap = arrived[after] - arrived[before]
        assert gap < 2.0, f"{after} was signalled {gap:.1f}s after {before}: not picked up quickly"


# ------------------------------------------------------------------ the classic chain

def test_stoker_dispatch_runs_under_the_real_os_collect_config(tmp_path, cloud):
    occ = OCC_VENV / "bin" / "os-collect-config"
    if not occ.exists():
        pytest.skip(f"os-collect-config is not installed in {OCC_VENV} (tests/setup.d/30-os-collect-config)")
    agent = Agent(tmp_path)
    write_config(agent)
    collect = cloud.os_collect_config("POLL_TEMP_URL")
    cloud.publish(document([deployment(cloud, "classic", transport="CFN_SIGNAL")], collect))
    cachedir, backup = tmp_path / "occ-cache", tmp_path / "occ-backup"
    command = shlex.join(agent.argv("dispatch"))
    occ_conf = tmp_path / "os-collect-config.conf"
    occ_conf.write_text("[DEFAULT]\n"
                        f"command = {command}\n"
                        f"cachedir = {cachedir}\n"
                        f"backup-cachedir = {backup}\n"
                        "collectors = request\n"
                        "\n[request]\n"
                        f"metadata_url = {collect['request']['metadata_url']}\n")
    result = subprocess.run([str(occ), "--one-time", "--config-file", str(occ_conf), "--cachedir", str(cachedir),
                             "--backup-cachedir", str(backup), "--command", command],
                            env=agent.env(), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, f"os-collect-config or stoker dispatch failed:\n{result.stderr}"
    assert (cachedir / "request.json").exists(), "os-collect-config cached the TempURL document"
    assert agent.notify("classic")["deploy_stdout"] == "hello from classic\n"
    assert len(signals_for(cloud, "dep-classic")) == 1
    assert agent.record("classic")["signal"]["state"] == "delivered"


def test_the_transport_is_persisted_at_the_first_answer_so_a_lost_cfn_init_data_does_not_strand_the_server(
        tmp_path, cloud):
    """cloud-init writes cfn-init-data without syncing; a power cut soon after first boot can
    leave it empty. The agent must already have its own durable copy of where to poll."""
    cfn = cloud.os_collect_config("POLL_SERVER_CFN")
    agent, init = first_boot_once(tmp_path, cloud, cfn)

    init.write_text("")  # what the power cut left
    cloud.publish(document([deployment(cloud, "d1", transport="CFN_SIGNAL"),
                            deployment(cloud, "d2", transport="CFN_SIGNAL")], cfn))
    again = agent.run("run", "--once", "--signal-wait", "10")
    assert again.returncode == 0, again.stderr
    assert delivered(cloud, "d2")(), "after the reboot the agent must still know where to poll"
    assert len(signals_for(cloud, "dep-d1")) == 1
