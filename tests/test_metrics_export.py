"""Issue 14: the metrics file, scraped by the real node_exporter and linted by promtool.

``stoker apply`` and ``stoker run`` run as processes against the loopback cloud with
``metrics_file`` in the textfile collector's directory; node_exporter (Debian's
``prometheus-node-exporter``, textfile collector only, on a free loopback port) serves
it, and what a Prometheus server would scrape is checked.
"""
from __future__ import annotations

import pytest

from tests.agent_helpers import Agent, wait_for
from tests.prometheus_tools import node_exporter, promtool_check, samples
from tests.test_signals import (Process, apply, deployment, document, input_value, signal_path,
                                write_config)

pytestmark = pytest.mark.contract


def metrics_agent(tmp_path, **config) -> Agent:
    agent = Agent(tmp_path)
    write_config(agent, metrics_file=tmp_path / "textfile" / "stoker.prom", **config)
    return agent


def test_apply_writes_metrics_that_node_exporter_serves_and_promtool_accepts(tmp_path, cloud):
    agent = metrics_agent(tmp_path)
    flaky = deployment(cloud, "flaky")
    cloud.cfn.fail_next(503, count=1, method="POST", path=signal_path(input_value(flaky, "deploy_signal_id")))
    broken = deployment(cloud, "broken", script="#!/bin/sh\necho no >&2\nexit 3\n")
    refused = deployment(cloud, "refused")
    cloud.cfn.fail_next(403, count=None, method="POST", path=signal_path(input_value(refused, "deploy_signal_id")))
    result = apply(agent, [flaky, broken, refused], "--signal-wait", "20")
    assert result.returncode == 1, result.stdout + result.stderr

    path = tmp_path / "textfile" / "stoker.prom"
    lint = promtool_check(path)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
    with node_exporter(path.parent, tmp_path / "node-exporter.log") as exporter:
        page = exporter.scrape()
    got = samples(page, "stoker_")
    assert samples(page, "node_textfile_scrape_error")["node_textfile_scrape_error"] == 0, page
    assert got['stoker_deployments{group="script",result="succeeded"}'] == 2
    assert got['stoker_deployments{group="script",result="failed"}'] == 1
    assert got["stoker_deployments_failing"] == 1
    assert got['stoker_hook_duration_seconds_count{group="script"}'] == 3
    assert got['stoker_signal_attempts_total{transport="CFN_SIGNAL"}'] == 4, "2 for flaky, 1 each for the others"
    assert got['stoker_signal_failed_attempts_total{transport="CFN_SIGNAL"}'] == 2
    assert got['stoker_signals_delivered_total{transport="CFN_SIGNAL"}'] == 2
    assert got['stoker_signal_refusals_total{status="403",transport="CFN_SIGNAL"}'] == 1, \
        "node_exporter sorts labels by name"
    assert got["stoker_signals_pending"] == 0 and got["stoker_signals_failed"] == 1
    assert got['stoker_agent_info{origin="",source="",version="0.1.0"}'] == 1, "apply polls nothing"


def test_the_daemon_rewrites_the_file_after_every_poll_and_shows_a_failing_source(tmp_path, cloud):
    agent = metrics_agent(tmp_path, sections={"cfn": cloud.collect_section("POLL_SERVER_CFN")})
    cloud.publish(document([deployment(cloud, "d1")], cloud.os_collect_config("POLL_SERVER_CFN")))
    path = tmp_path / "textfile" / "stoker.prom"

    def metric(name: str) -> float:
        return samples(path.read_text() if path.exists() else "", name).get(name, -1)

    daemon = Process(agent, "run")
    try:
        wait_for(lambda: metric("stoker_polls_total") >= 3, timeout=30, what="three polls in the metrics file")
        assert metric("stoker_poll_errors_total") == 0 and metric("stoker_poll_failing") == 0
        wait_for(lambda: metric("stoker_signals_pending") == 0 and
                 'stoker_signals_delivered_total{transport="CFN_SIGNAL"} 1' in path.read_text(),
                 timeout=20, what="d1's delivered signal in the metrics")
        good = metric("stoker_last_successful_poll_timestamp_seconds")
        assert good > 0

        cloud.cfn.fail_next(500, count=None, method="GET")  # the metadata source breaks
        wait_for(lambda: metric("stoker_poll_errors_total") >= 2, timeout=30, what="failed polls counted")
        assert metric("stoker_poll_failing") == 1
        assert metric("stoker_last_successful_poll_timestamp_seconds") == good, \
            "a failed poll must not move the last successful poll"
        lint = promtool_check(path)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        with node_exporter(path.parent, tmp_path / "node-exporter.log") as exporter:
            scraped = samples(exporter.scrape(), "stoker_")
        assert scraped["stoker_poll_failing"] == 1
        info = [k for k in scraped if k.startswith("stoker_agent_info{")]
        assert len(info) == 1 and 'source="cfn"' in info[0] and 'version="0.1.0"' in info[0], info
    finally:
        daemon.stop()
        cloud.cfn.faults.clear()


def test_no_metrics_file_is_written_when_metrics_file_is_unset(tmp_path, cloud):
    agent = Agent(tmp_path)
    write_config(agent)
    result = apply(agent, [deployment(cloud, "plain")])
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.rglob("*.prom"))


def test_metrics_can_be_turned_on_by_a_reload_without_a_restart(tmp_path, cloud):
    import signal

    agent = Agent(tmp_path)
    sections = {"cfn": cloud.collect_section("POLL_SERVER_CFN")}
    write_config(agent, sections=sections)
    cloud.publish(document([deployment(cloud, "d1")], cloud.os_collect_config("POLL_SERVER_CFN")))
    path = tmp_path / "textfile" / "stoker.prom"
    daemon = Process(agent, "run")
    try:
        wait_for(lambda: (agent.state / "polling.json").exists(), timeout=20, what="a first poll")
        assert not path.exists()
        write_config(agent, sections=sections, metrics_file=path)
        daemon.popen.send_signal(signal.SIGHUP)
        wait_for(lambda: path.exists() and "stoker_polls_total" in path.read_text(), timeout=20,
                 what="the metrics file after SIGHUP")
        assert 'stoker_deployments{group="script",result="succeeded"} 1' in path.read_text()
    finally:
        daemon.stop()
