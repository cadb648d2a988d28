"""The metrics module in process: the text it renders and how it writes (never raising)."""
from __future__ import annotations

import logging
import re

import pytest

from stoker import payload
from stoker.journal import Journal, Record, SignalState
from stoker.metadata import parse_item
from stoker.metrics import METRICS, MetricsFile, render
from stoker.pollstate import PollState

pytestmark = pytest.mark.unit


def record(key, tool="script", ok=True, duration=1.0, signal=None, state="finished", **extra):
    return Record(key=key, id=key, name=extra.pop("name", key), group=extra.pop("group", tool), action="CREATE",
                  tool=tool, state=state, duration=duration if state == "finished" else None,
                  ok=ok if state == "finished" else None, signal=signal or SignalState(), **extra)


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_every_metric_has_help_and_type_and_only_declared_names_appear():
    poll = PollState.started(30)
    poll.polled(None, changed=True)
    text = render([record("a")], poll)
    for name in re.findall(r"^(stoker_\w+?)(?:_bucket|_sum|_count)?[{ ]", text, re.M):
        assert name in METRICS, name
    for name in set(re.findall(r"^# TYPE (\S+)", text, re.M)):
        assert f"# HELP {name} " in text


def test_deployments_are_counted_by_group_and_result_and_only_the_newest_run_is_failing():
    records = [record("old", ok=False, name="web", resource="web", stack="s"),
               record("new", ok=True, name="web", resource="web", stack="s"),
               record("pp", tool="puppet", ok=False, group="component"),
               record("run", state="running")]
    got = samples(render(records, None))
    assert got['stoker_deployments{group="script",result="failed"}'] == 1
    assert got['stoker_deployments{group="script",result="succeeded"}'] == 1
    assert got['stoker_deployments{group="puppet",result="failed"}'] == 1, "a component counts as its tool"
    assert got['stoker_deployments{group="script",result="running"}'] == 1
    assert got["stoker_deployments_failing"] == 1, "a failure fixed by a later run no longer counts"


def test_hook_durations_form_a_cumulative_histogram_per_group():
    records = [record("a", duration=0.05), record("b", duration=3.0), record("c", duration=4000.0)]
    got = samples(render(records, None))
    assert got['stoker_hook_duration_seconds_bucket{group="script",le="0.1"}'] == 1
    assert got['stoker_hook_duration_seconds_bucket{group="script",le="5"}'] == 2
    assert got['stoker_hook_duration_seconds_bucket{group="script",le="3600"}'] == 2
    assert got['stoker_hook_duration_seconds_bucket{group="script",le="+Inf"}'] == 3
    assert got['stoker_hook_duration_seconds_count{group="script"}'] == 3
    assert got['stoker_hook_duration_seconds_sum{group="script"}'] == pytest.approx(4003.05)


def test_signals_are_counted_by_state_attempts_and_refusals():
    records = [record("ok", signal=SignalState("CFN_SIGNAL", "delivered", attempts=3)),
               record("wait", signal=SignalState("CFN_SIGNAL", "pending", attempts=1)),
               record("no", signal=SignalState("HEAT_SIGNAL", "failed", attempts=1, http_status=403)),
               record("gone", signal=SignalState("HEAT_SIGNAL", "failed", attempts=9)),
               record("none", signal=SignalState("NO_SIGNAL", "none"))]
    got = samples(render(records, None))
    assert got["stoker_signals_pending"] == 1 and got["stoker_signals_failed"] == 2
    assert got['stoker_signal_attempts_total{transport="CFN_SIGNAL"}'] == 4
    assert got['stoker_signal_failed_attempts_total{transport="CFN_SIGNAL"}'] == 3
    assert got['stoker_signals_delivered_total{transport="CFN_SIGNAL"}'] == 1
    assert got['stoker_signal_refusals_total{transport="HEAT_SIGNAL",status="403"}'] == 1
    assert got['stoker_signal_refusals_total{transport="HEAT_SIGNAL",status="none"}'] == 1
    assert not any("NO_SIGNAL" in name for name in got), "NO_SIGNAL owes nothing and is not a transport"


def test_polling_metrics_come_from_the_poll_state():
    poll = PollState.started(30)
    poll.source, poll.origin = "cfn", "learned"
    poll.polled(None, changed=True)
    poll.polled("connection refused")
    got = samples(render([], poll))
    assert got['stoker_agent_info{version="0.1.0",source="cfn",origin="learned"}'] == 1
    assert got["stoker_polls_total"] == 2 and got["stoker_poll_errors_total"] == 1
    assert got["stoker_poll_failing"] == 1
    assert got["stoker_last_successful_poll_timestamp_seconds"] == pytest.approx(poll.last_success_at)
    assert got["stoker_poll_interval_seconds"] == 30


def test_label_values_are_escaped():
    text = render([record("a", tool='we"ird\\group\nx')], None)
    assert 'group="we\\"ird\\\\group\\nx"' in text


def _journal_with_one(tmp_path):
    journal = Journal(tmp_path / "state", tmp_path / "deployed")
    item = parse_item({"id": "d1", "name": "one", "group": "script", "inputs": []})
    return journal, item


def test_the_file_follows_every_journal_change_and_is_readable_by_node_exporter(tmp_path):
    journal, item = _journal_with_one(tmp_path)
    metrics = MetricsFile(tmp_path / "textfile" / "stoker.prom", journal)
    journal.on_change = metrics.refresh
    rec = journal.begin(item, "script")
    assert 'result="running"} 1' in metrics.path.read_text()
    journal.finish(rec, payload.make("x"), True, "", SignalState())
    assert 'result="succeeded"} 1' in metrics.path.read_text()
    assert metrics.path.stat().st_mode & 0o777 == 0o644, "node_exporter runs as another user"
    assert [p.name for p in metrics.path.parent.iterdir()] == ["stoker.prom"], "no temporary file is left"


def test_a_write_that_fails_never_raises_and_is_logged_once(tmp_path, caplog):
    journal, item = _journal_with_one(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    metrics = MetricsFile(blocker / "stoker.prom", journal)
    journal.on_change = metrics.refresh
    with caplog.at_level(logging.WARNING, logger="stoker.metrics"):
        rec = journal.begin(item, "script")
        journal.finish(rec, payload.make("x"), True, "", SignalState())
    warnings = [r for r in caplog.records if r.name == "stoker.metrics"]
    assert len(warnings) == 1 and "cannot write the metrics file" in warnings[0].getMessage()
    assert journal.get("d1").ok is True, "the deployment is recorded whatever happens to the metrics"
