"""The journal: damaged records set aside and reported, a full disk kept in memory, newest name wins,
and a hook pid is judged alive only while that very process runs (zombies count as exited)."""
import errno
import json
import os
import subprocess
import time

import pytest

from stoker import fsutil, payload
from stoker.journal import DiskFull, Journal, SignalState, process_running, process_start_time
from stoker.metadata import parse_item

pytestmark = pytest.mark.unit


def new_item(ident, name="app", action="CREATE"):
    return parse_item({"id": ident, "name": name, "group": "script",
                       "inputs": [{"name": "deploy_action", "value": action}]})


def finished(journal, ident, **kwargs):
    record = journal.begin(new_item(ident, **kwargs), "script")
    journal.finish(record, payload.make("out"), True, "", SignalState())
    return record


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "state", tmp_path / "deployed")


@pytest.mark.parametrize("damage", [b"", b'{"key": "d1", "id"', b"\x00\xff", b"[]",
                                    b'{"key": "other"}', b'{"key": "d1", "id": "d1", "name": 5}'])
def test_a_damaged_record_is_quarantined_and_listed_not_a_crash(tmp_path, journal, damage):
    finished(journal, "d1")
    (tmp_path / "state" / "journal" / "d1.json").write_bytes(damage)
    reopened = Journal(tmp_path / "state", tmp_path / "deployed")
    assert reopened.get("d1") is None
    assert [d.key for d in reopened.damaged] == ["d1"]
    assert not (tmp_path / "state" / "journal" / "d1.json").exists()
    assert reopened.quarantine.entries()[0]["file"].endswith("journal/d1.json")


def test_a_read_only_journal_reports_damage_but_moves_nothing(tmp_path, journal):
    finished(journal, "d1")
    record_file = tmp_path / "state" / "journal" / "d1.json"
    record_file.write_bytes(b"{")
    viewer = Journal(tmp_path / "state", tmp_path / "deployed", writer=False)
    assert [d.key for d in viewer.damaged] == ["d1"] and record_file.exists()


def test_a_damaged_item_or_result_is_answered_with_the_reason(tmp_path, journal):
    finished(journal, "d1")
    (tmp_path / "deployed" / "d1.notify.json").write_bytes(b"")
    body, problem = journal.payload("d1")
    assert body is None and "is empty" in problem
    item, problem = journal.item("absent")
    assert item is None and "is missing" in problem


def test_find_by_name_picks_the_newest_record_of_that_name(journal):
    finished(journal, "create-id", action="CREATE")
    newest = finished(journal, "update-id", action="UPDATE")
    assert journal.find("app").key == newest.key


def refuse_writes(monkeypatch):
    def full(path, value, mode=0o600):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fsutil, "write_json", full)


def test_a_full_disk_at_begin_keeps_the_record_in_memory_and_says_so(monkeypatch, journal):
    refuse_writes(monkeypatch)
    with pytest.raises(DiskFull):
        journal.begin(new_item("d1"), "script")
    assert journal.get("d1") is not None and journal.has_unsaved()
    assert journal.item("d1")[0]["id"] == "d1", "the item must still be readable from memory"


def test_a_full_disk_at_finish_keeps_the_payload_readable_and_flush_saves_it_later(tmp_path, monkeypatch, journal):
    record = journal.begin(new_item("d1"), "script")
    with monkeypatch.context() as patch:
        refuse_writes(patch)
        assert journal.finish(record, payload.make("out"), True, "", SignalState()) is False
        assert journal.payload("d1")[0] == payload.make("out")
        assert journal.flush() is False
    assert journal.flush() is True and not journal.has_unsaved()
    assert json.loads((tmp_path / "deployed" / "d1.notify.json").read_text()) == payload.make("out")
    assert Journal(tmp_path / "state", tmp_path / "deployed").get("d1").state == "finished"


def test_a_directory_in_place_of_the_lock_file_is_set_aside(tmp_path, journal):
    (tmp_path / "state" / "lock").mkdir()
    with journal.locked():
        assert (tmp_path / "state" / "lock").is_file()
    assert "is not a lock file" in journal.quarantine.entries()[0]["reason"]


def test_a_zombie_hook_counts_as_exited_for_recovery():
    child = subprocess.Popen(["true"])
    try:
        start = process_start_time(child.pid)
        deadline = time.monotonic() + 5
        while process_running(child.pid, start) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.path.exists(f"/proc/{child.pid}"), "the child should still be an unreaped zombie"
        assert not process_running(child.pid, start)
    finally:
        child.wait()
    sleeper = subprocess.Popen(["sleep", "5"])
    try:
        assert process_running(sleeper.pid, process_start_time(sleeper.pid))
        assert not process_running(sleeper.pid, "not-its-start-time"), "a reused pid is not our hook"
    finally:
        sleeper.kill()
        sleeper.wait()


def _record_json(**signal):
    return {"key": "k1", "id": "k1", "name": "n", "group": "script", "action": "CREATE", "state": "finished",
            "seen_at": 1.0, "signal": {"transport": "CFN_SIGNAL", "state": "delivered", **signal}}


def test_a_record_written_before_attempt_histories_existed_loads_with_none():
    from stoker.journal import Record
    record = Record.from_dict(_record_json(attempts=2))
    assert record.signal.history == [] and record.signal.attempts == 2


@pytest.mark.parametrize("history, words", [
    ("not a list", "signal is a str"),
    ([1], "history holds a int"),
    ([{"at": 1.0, "outcome": "retry", "http_status": None}], "lacks error"),
    ([{"at": "soon", "outcome": "retry", "http_status": None, "error": ""}], "str at"),
    ([{"at": 1.0, "outcome": "maybe", "http_status": None, "error": ""}], "unknown outcome"),
    ([{"at": 1.0, "outcome": "retry", "http_status": True, "error": ""}], "bool http_status"),
    ([{"at": 1.0, "outcome": "retry", "http_status": None, "error": ""}] * 21, "at most 20"),
])
def test_a_damaged_attempt_history_makes_the_record_damaged(history, words):
    from stoker.journal import Record
    with pytest.raises(ValueError, match=words.replace("signal is a str", "history is a str")):
        Record.from_dict(_record_json(history=history))
