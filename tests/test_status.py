"""status: the exit code ``stoker status`` gives, which run of a deployment counts, the agent's polling
state, progress of running hooks, the JSON schema, and output with no secrets in it."""
from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from stoker import status
from stoker.journal import FINISHED, RUNNING, Record, SignalState
from stoker.pollstate import PollState, PollStateFile

pytestmark = pytest.mark.unit


def record(state=FINISHED, ok=True, signal="none", name="n", started=100.0, **fields):
    """A journal record in the given state, as ``stoker status`` reads it."""
    return Record(key=f"k-{name}-{started}", id=f"id-{name}-{started}", name=name, group="script",
                  action="CREATE", state=state, ok=ok, seen_at=started, started_at=started,
                  signal=SignalState(state=signal), **fields)


def schema() -> dict:
    return json.loads(resources.files("stoker").joinpath("data/status.schema.json").read_text())


def test_status_exit_code_precedence():
    assert status.exit_code([]) == status.OK
    assert status.exit_code([record()]) == status.OK
    assert status.exit_code([record(signal="delivered")]) == status.OK
    assert status.exit_code([record(signal="pending")]) == status.PENDING
    assert status.exit_code([record(state=RUNNING, ok=None)]) == status.PENDING
    assert status.exit_code([record(signal="failed", name="a"), record(signal="pending", name="b")]) \
        == status.UNDELIVERABLE
    assert status.exit_code([record(ok=False, name="a"), record(signal="failed", name="b")]) == status.FAILED


def test_a_failure_fixed_by_a_later_run_of_the_same_name_no_longer_fails_status():
    failed, fixed = record(ok=False, started=100.0), record(ok=True, started=200.0)
    assert status.exit_code([failed, fixed]) == status.OK
    assert status.exit_code([fixed, failed]) == status.OK, "order in the journal must not matter, time does"
    assert status.exit_code([record(ok=True, started=100.0), record(ok=False, started=200.0)]) == status.FAILED


def test_runs_of_one_heat_resource_are_one_deployment_even_when_the_config_name_changes():
    old = record(ok=False, name="stack-config-aaaa", started=1.0, stack="web", resource="deploy")
    new = record(ok=True, name="stack-config-bbbb", started=2.0, stack="web", resource="deploy")
    other = record(ok=True, name="stack-config-aaaa", started=3.0, stack="db", resource="deploy")
    assert status.current([old, new, other]) == [new, other]
    assert status.exit_code([old, new, other]) == status.OK


def test_the_table_marks_a_superseded_failure_and_shows_heat_names_and_the_id():
    old = record(ok=False, started=1.0, stack="web", resource="deploy", reason="exit 1")
    new = record(ok=True, started=2.0, stack="web", resource="deploy")
    table = status.as_table([old, new])
    assert "web/deploy" in table
    assert "superseded by a later run" in table
    assert f"id {old.id}" in table


def test_the_group_column_says_component_for_components_with_the_tool_beside_it():
    component = Record(key="c", id="c", name="comp", group="component", action="CREATE", tool="script",
                       state=FINISHED, ok=True)
    table = status.as_table([component])
    assert "component (script)" in table


def test_a_running_deployment_shows_elapsed_time_and_its_last_output_line():
    running = record(state=RUNNING, ok=None)
    view = status.Snapshot([running], progress={running.key: status.Progress(12.5, "step 3 of 7")})
    text = status.as_text(view)
    assert "running for 12.50s; last output: step 3 of 7" in text
    row = json.loads(status.as_json(view.records, view=view))["deployments"][0]
    assert row["progress"] == {"elapsed": 12.5, "last_output": "step 3 of 7"}


def test_the_agent_section_shows_the_source_the_last_good_poll_and_the_last_error():
    polling = PollState(pid=1, source="heat", endpoint="http://127.0.0.1:5000/v3 stack s resource r",
                        interval=30, polls=5, errors=2, last_success_at=1000.0,
                        last_error="answered 404: unknown stack or resource", last_error_at=1010.0,
                        failing_since=1005.0)
    text = status.agent_lines(status.Snapshot([], polling=polling), now=1020.0)
    assert "polling heat at http://127.0.0.1:5000/v3 stack s resource r every 30s" in text
    assert "last good poll: 1970-01-01T00:16:40" in text
    assert "failing since" in text and "answered 404: unknown stack or resource" in text
    assert "not running" in text


def test_without_a_polling_record_the_agent_section_says_so():
    assert "has not polled" in status.agent_lines(status.Snapshot([]))


def test_status_json_matches_the_shipped_schema():
    running = record(state=RUNNING, ok=None, name="r")
    rows = [record(ok=False, signal="failed", name="a"), record(signal="delivered", name="b"), running]
    polling = PollState(pid=1, started_at=5.0, source="cfn", endpoint="http://x", interval=30, polls=1)
    view = status.Snapshot(rows, damage=[{"file": "f", "reason": "r", "at": None, "moved_to": ""}],
                           polling=polling, progress={running.key: status.Progress(1.0, "")})
    document = json.loads(status.as_json(rows, view.damage, view))
    jsonschema.validate(document, schema())
    assert document["schema_version"] == status.SCHEMA_VERSION
    assert document["agent"]["polling"]["source"] == "cfn"
    jsonschema.validate(json.loads(status.as_json([])), schema())


def test_the_schema_rejects_a_document_missing_its_version():
    document = json.loads(status.as_json([]))
    del document["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema())


def test_status_json_redacts_reasons_and_errors():
    bad = record(ok=False, signal="failed")
    bad.reason = "POST http://h/?Signature=leakme failed"
    bad.signal.last_error = '{"password": "leaktoo"}'
    polling = PollState(pid=1, source="request", endpoint="http://h/o?temp_url_sig=leakthree",
                        last_error="GET http://h/o?temp_url_sig=leakthree failed")
    view = status.Snapshot([bad], polling=polling)
    text = status.as_json([bad], view=view) + status.as_text(view)
    assert "leakme" not in text and "leaktoo" not in text and "leakthree" not in text


def test_the_polling_file_round_trips_and_a_damaged_one_reads_as_unknown(tmp_path):
    state_file = PollStateFile(tmp_path)
    state = PollState.started(30.0)
    state.polled("it broke")
    state.polled(None, changed=True)
    state_file.save(state)
    loaded = state_file.load()
    assert loaded == state and not loaded.failing and loaded.errors == 1
    state_file.path.write_text("{not json")
    assert state_file.load() is None
    state_file.path.write_text('{"polls": "many"}')
    assert state_file.load() is None


def test_a_polling_file_that_cannot_be_written_does_not_stop_the_agent(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    PollStateFile(blocked).save(PollState.started(30.0))  # must not raise
