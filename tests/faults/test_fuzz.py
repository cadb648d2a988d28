"""Property-based fuzzing: whatever comes in, stoker reports it and keeps going.

Each property runs in-process (the real parser, planner, deployer, journal,
outbox and status views, with a recording sender instead of the network) so
that thousands of examples fit in a minute. The seed is fixed
(``derandomize``) so that CI runs the same examples every time; set
``STOKER_FUZZ_EXAMPLES`` to run more.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stoker import payload, statefile, status, sourceconfig
from stoker.config import Settings
from stoker.deployer import Deployer
from stoker.journal import Journal
from stoker.metadata import MetadataError, load_document
from stoker.runner import HookOutcome
from stoker.signals.outbox import Outbox
from tests.faults import fuzzing

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("STOKER_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
OK_HOOK = "#!/bin/sh\ncat >/dev/null\necho '{\"deploy_stdout\": \"ok\", \"deploy_status_code\": 0}'\n"


class RecordingSender:
    """Stands in for the network: records each signal body, which must be JSON Heat can read."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def __call__(self, transport_name, inputs, body, context) -> None:
        self.sent.append(json.loads(body, parse_constant=_no_constant))


def _no_constant(name: str):
    raise AssertionError(f"a signal body holds {name}, which Heat cannot read")


@contextlib.contextmanager
def agent_world() -> Iterator[tuple[Settings, Path]]:
    """A state dir, a deployed dir and a hooks dir with one cheap hook named ``ok``."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as root:
        base = Path(root)
        hooks = base / "hooks"
        hooks.mkdir()
        (hooks / "ok").write_text(OK_HOOK)
        (hooks / "ok").chmod(0o755)
        yield Settings(state_dir=base / "state", deployed_dir=base / "deployed", hooks_dirs=(hooks,),
                       hook_timeout=20.0), base


def open_agent(agent_settings: Settings, sender: RecordingSender) -> tuple[Journal, Outbox, Deployer]:
    journal = Journal(agent_settings.state_dir, agent_settings.deployed_dir)
    outbox = Outbox(journal, retry_period=60.0, sender=sender)
    return journal, outbox, Deployer(agent_settings, journal, outbox)


@FUZZ
@given(fuzzing.documents())
def test_any_document_ends_in_a_record_for_every_item_and_never_a_crash(data):
    try:
        document = load_document(data)
    except MetadataError:
        return  # a whole document that is unusable: `apply` exits 2 with this one line
    with agent_world() as (agent_settings, _base):
        sender = RecordingSender()
        journal, outbox, deployer = open_agent(agent_settings, sender)
        records = deployer.deploy(document)
        outbox.deliver_due()
        keys = {item.key for item in document.items}
        assert {r.key for r in records} == keys, "an item was neither run nor reported"
        for record in records:
            assert record.state == "finished" and isinstance(record.status_code, int)
        for item in document.items:
            if item.problem:
                assert journal.get(item.key).ok is False, f"a malformed item was not failed: {item.problem}"
        json.dumps(json.loads(status.as_json(journal.records())))
        status.as_table(journal.records()).encode("utf-8", "backslashreplace")
        _restart(agent_settings, sender, keys)


def _restart(agent_settings: Settings, sender: RecordingSender, keys: set[str]) -> None:
    """A second start on the same state recovers nothing, runs nothing again, and never raises."""
    journal, _outbox, deployer = open_agent(agent_settings, sender)
    assert deployer.recover() == []
    assert {r.key for r in journal.records()} == keys


@FUZZ
@given(fuzzing.hook_answers(), st.integers(min_value=-64, max_value=300), st.binary(max_size=40))
def test_any_hook_answer_becomes_a_payload_heat_can_read(stdout, code, stderr):
    result = payload.fit(payload.from_hook(HookOutcome(returncode=code, stdout=stdout, stderr=stderr), "h"))
    assert isinstance(result[payload.CODE], int) and not isinstance(result[payload.CODE], bool)
    assert isinstance(result[payload.STDOUT], str) and isinstance(result[payload.STDERR], str)
    if code != 0:
        assert result[payload.CODE] != 0, "a non-zero exit was reported as success"
    json.dumps(result, allow_nan=False)  # raises on NaN/Infinity: no peer could read them
    assert payload.encoded_size(result) <= payload.MAX_BODY


STATE_FILES = ("record", "item", "payload", "transport", "status", "pid")


@FUZZ
@given(st.sampled_from(STATE_FILES), st.sampled_from(["done", "waiting"]), st.data())
def test_any_damaged_state_file_is_survived_reported_and_nothing_reruns(which, target, data):
    with agent_world() as (agent_settings, base):
        sender = RecordingSender()
        _settled_state(agent_settings, sender)
        path = _state_path(agent_settings, which, target, "cut")
        original = path.read_bytes() if path.exists() else b'{"key": "x"}'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.draw(fuzzing.damaged_json(original)))
        damaged = which in ("record", "item", "payload", "transport") and \
            statefile.read(path, statefile.expect_object)[1] is not None

        journal, outbox, deployer = open_agent(agent_settings, sender)
        journal.audit()
        recovered = deployer.recover()
        outbox.deliver_due()
        sourceconfig.learned(agent_settings)
        damage = status.damage_report(journal)
        json.loads(status.as_json(journal.records(), damage))
        status.damage_table(damage)
        if damaged:
            assert damage, f"the damaged {which} file was not reported"
        again = deployer.deploy(load_document(json.dumps(_document("done", "waiting", "cut"))))
        assert not {"done", "waiting"} & {r.key for r in again}, "a finished deployment ran again after damage"
        assert journal.get(target), "a deployment whose state was damaged is no longer known at all"
        assert all(r.state == "finished" for r in recovered)
        assert not [r for r in journal.records() if r.signal.state == "pending" and r.signal.attempts == 0
                    and r.key != "waiting"], "a signal that was due was not attempted"


def _document(*keys: str) -> dict:
    return {"deployments": [{"id": key, "name": key, "group": "ok",
                             "inputs": [{"name": "deploy_signal_transport", "value": "CFN_SIGNAL"},
                                        {"name": "deploy_signal_id", "value": "http://127.0.0.1:9/s"}]}
                            for key in keys]}


def _settled_state(agent_settings: Settings, sender: RecordingSender) -> None:
    """One deployment signalled, one with its signal pending, one left 'running' by a killed agent."""
    journal, outbox, deployer = open_agent(agent_settings, sender)
    deployer.deploy(load_document(json.dumps(_document("done"))))
    outbox.deliver_due()
    deployer.deploy(load_document(json.dumps(_document("waiting"))))
    document = load_document(json.dumps(_document("cut")))
    journal.begin(document.items[0], "ok", pid=999_999)
    rundir = deployer.rundir("cut")
    rundir.mkdir(parents=True)
    (rundir / "pid").write_text("999999\n")
    (rundir / "status").write_text("0\n")
    (rundir / "stdout").write_text('{"deploy_status_code": 0}')
    sourceconfig.remember(agent_settings, {"collectors": ["request"], "request": {"metadata_url": "http://127.0.0.1:9/m"}})


def _state_path(agent_settings: Settings, which: str, done_key: str, running_key: str) -> Path:
    return {
        "record": agent_settings.state_dir / "journal" / f"{done_key}.json",
        "item": agent_settings.deployed_dir / f"{done_key}.json",
        "payload": agent_settings.deployed_dir / f"{done_key}.notify.json",
        "transport": agent_settings.state_dir / sourceconfig.LEARNED_FILE,
        "status": agent_settings.work_dir / running_key / "status",
        "pid": agent_settings.work_dir / running_key / "pid",
    }[which]
