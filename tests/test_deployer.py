"""The deployer: recovery tells the truth, a full disk fails a deployment, one bug stops one deployment;
per-item timeouts and the failure reason a record keeps."""
import json
from types import SimpleNamespace

import pytest

from stoker import fsutil, payload, runner
from stoker.config import Settings
from stoker.deployer import INTERRUPTED, Deployer, failure_reason
from stoker.journal import Journal
from stoker.metadata import load_document, parse_item
from stoker.signals.outbox import Outbox

pytestmark = pytest.mark.unit

OK_HOOK = "#!/bin/sh\ncat >/dev/null\necho '{\"deploy_stdout\": \"ran\", \"deploy_status_code\": 0}'\n"


@pytest.fixture
def world(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "ok").write_text(OK_HOOK)
    (hooks / "ok").chmod(0o755)
    return Settings(state_dir=tmp_path / "state", deployed_dir=tmp_path / "deployed", hooks_dirs=(hooks,))


def open_deployer(settings):
    journal = Journal(settings.state_dir, settings.deployed_dir)
    return journal, Deployer(settings, journal, Outbox(journal, retry_period=60.0))


def document(*idents):
    return load_document(json.dumps({"deployments": [{"id": i, "name": i, "group": "ok"} for i in idents]}))


def left_running(settings, ident, pid=None):
    """What a killed agent leaves: a record that says running."""
    journal, deployer = open_deployer(settings)
    journal.begin(parse_item({"id": ident, "name": ident, "group": "ok"}), "ok", pid=pid)
    return deployer.rundir(ident)


def test_a_hook_that_never_started_is_forgotten_at_recovery_and_runs_when_seen(world):
    left_running(world, "d1")
    journal, deployer = open_deployer(world)
    assert deployer.recover() == []
    assert journal.get("d1") is None
    (record,) = deployer.deploy(document("d1"))
    assert record.ok is True


def test_a_hook_that_finished_while_the_agent_was_down_reports_its_recorded_result(world):
    rundir = left_running(world, "d1", pid=2 ** 22 + 1)
    rundir.mkdir(parents=True)
    (rundir / "pid").write_text("4194305\n")
    (rundir / "stdout").write_text('{"deploy_stdout": "real", "deploy_status_code": 4}')
    (rundir / "status").write_text("0\n")
    journal, deployer = open_deployer(world)
    (record,) = deployer.recover()
    assert (record.status_code, record.ok) == (4, False)
    assert journal.payload("d1")[0]["deploy_stdout"] == "real"
    assert not rundir.exists()


def test_a_hook_cut_off_with_the_agent_is_interrupted(world):
    rundir = left_running(world, "d1", pid=2 ** 22 + 1)
    rundir.mkdir(parents=True)
    (rundir / "pid").write_text("4194305\n")
    journal, deployer = open_deployer(world)
    (record,) = deployer.recover()
    assert INTERRUPTED in record.reason


def test_a_damaged_record_is_reported_failed_and_not_run_again(world):
    journal, deployer = open_deployer(world)
    deployer.deploy(document("d1"))
    (world.state_dir / "journal" / "d1.json").write_bytes(b"\x00garbage")
    journal, deployer = open_deployer(world)
    (record,) = deployer.recover()
    assert record.ok is False and "journal record of this deployment was damaged" in record.reason
    assert deployer.deploy(document("d1")) == []


def test_a_full_disk_before_the_hook_starts_fails_the_deployment_without_running_it(world, monkeypatch, tmp_path):
    journal, deployer = open_deployer(world)
    marker = tmp_path / "ran"
    (world.hooks_dirs[0] / "ok").write_text(f"#!/bin/sh\ntouch {marker}\n" + OK_HOOK.split("\n", 1)[1])

    def full(path, value, mode=0o600):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fsutil, "write_json", full)
    (record,) = deployer.deploy(document("d1"))
    assert record.ok is False and "disk is full" in record.reason and not marker.exists()
    assert not deployer.rundir("d1").exists(), "the wrapper held at its gate is sent away with its run directory"
    assert journal.payload("d1")[0]["deploy_status_code"] != 0, "the failure must be signalled from memory"


def test_a_bug_in_one_deployment_fails_it_and_the_next_one_still_runs(world, monkeypatch):
    journal, deployer = open_deployer(world)
    real_run = runner.Launch.run

    def broken_once(launch, timeout):
        if launch.rundir.name == "d1":
            launch.abandon()
            raise RuntimeError("boom")
        return real_run(launch, timeout)
    monkeypatch.setattr(runner.Launch, "run", broken_once)
    first, second = deployer.deploy(document("d1", "d2"))
    assert first.ok is False and "RuntimeError: boom" in first.reason
    assert second.ok is True


def test_a_bug_before_the_start_is_recorded_leaves_no_trace_and_the_deployment_runs_when_next_seen(world, monkeypatch):
    journal, deployer = open_deployer(world)
    real_begin = journal.begin

    def broken_begin(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(journal, "begin", broken_begin)
    assert deployer.deploy(document("d1")) == []
    assert not deployer.rundir("d1").exists(), "the wrapper held at its gate is sent away with its run directory"
    monkeypatch.setattr(journal, "begin", real_begin)
    (record,) = deployer.deploy(document("d1"))
    assert record.ok is True


def test_a_bug_starting_the_hook_fails_the_deployment_with_a_signal_and_the_next_one_still_runs(world, monkeypatch):
    journal, deployer = open_deployer(world)
    real_start = runner.start_hook

    def broken_once(hook, stdin, *, rundir, env=None):
        if rundir.name == "d1":
            raise ValueError("boom")
        return real_start(hook, stdin, rundir=rundir, env=env)
    monkeypatch.setattr(runner, "start_hook", broken_once)
    first, second = deployer.deploy(document("d1", "d2"))
    assert first.ok is False and "could not start the hook: ValueError: boom" in first.reason
    assert journal.payload("d1")[0]["deploy_status_code"] != 0, "the failure is recorded for the outbox to send"
    assert second.ok is True


def test_a_wrapper_that_never_opened_its_gate_is_forgotten_at_recovery_and_its_deployment_runs(world):
    left_running(world, "d1", pid=2 ** 22 + 1)  # the wrapper was started and recorded, then the agent died
    journal, deployer = open_deployer(world)
    assert deployer.recover() == [], "no pid file: the wrapper never started the hook"
    assert journal.get("d1") is None
    (record,) = deployer.deploy(document("d1"))
    assert record.ok is True


@pytest.mark.parametrize("options, expected", [
    (None, 3600.0), ({}, 3600.0), ({"timeout": 5}, 5.0), ({"timeout": 0.5}, 0.5), ({"timeout": 0}, 3600.0),
    ({"timeout": -1}, 3600.0), ({"timeout": "5"}, 3600.0), ({"timeout": True}, 3600.0),
])
def test_timeout_for_uses_a_positive_numeric_options_timeout_else_the_agents(options, expected):
    fake = SimpleNamespace(settings=SimpleNamespace(hook_timeout=3600.0))
    assert Deployer.timeout_for(fake, parse_item({"id": "x", "options": options})) == expected


def test_failure_reason_prefers_the_last_stoker_line():
    assert failure_reason(payload.failure("first")) == "first"
    assert failure_reason(payload.make("", "tool said\nstoker: the real reason\nmore\n", 2)) == "the real reason"
    assert failure_reason(payload.make("", "plain", 9)) == "exit status 9: plain"
    assert failure_reason(payload.make("", "", 9)) == "exit status 9"
    assert failure_reason(payload.make()) == "an error output was set"
