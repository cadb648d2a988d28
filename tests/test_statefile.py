"""statefile: state files read without raising; damaged ones set aside with the reason."""
import json
import re

import pytest

from stoker import statefile

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("data, words", [
    (b"", "is empty"), (b"  \n", "is empty"), (b'{"a": ', "is not valid JSON"),
    (b"\xff\xfe\x00", "is not valid JSON"), (b"[1, 2]", "holds a JSON list"), (b"NaN", "is not valid JSON"),
])
def test_read_says_what_is_wrong_with_a_damaged_file_instead_of_raising(tmp_path, data, words):
    path = tmp_path / "state.json"
    path.write_bytes(data)
    value, problem = statefile.read(path, statefile.expect_object)
    assert value is None and words in problem


def test_read_of_a_missing_file_is_neither_a_value_nor_damage(tmp_path):
    assert statefile.read(tmp_path / "absent.json") == (None, None)


def test_read_of_a_directory_is_damage_not_an_exception(tmp_path):
    (tmp_path / "dir.json").mkdir()
    value, problem = statefile.read(tmp_path / "dir.json")
    assert value is None and "cannot be read" in problem


def test_quarantine_moves_the_file_aside_and_lists_it_with_the_reason(tmp_path):
    path = tmp_path / "journal" / "d1.json"
    path.parent.mkdir()
    path.write_bytes(b"garbage")
    quarantine = statefile.Quarantine(tmp_path)
    moved = quarantine.put(path, "is not valid JSON")
    assert not path.exists() and moved.read_bytes() == b"garbage"
    (entry,) = quarantine.entries()
    assert entry["file"] == str(path) and entry["reason"] == "is not valid JSON"
    assert entry["moved_to"] == str(moved) and isinstance(entry["at"], float)
    assert json.loads(moved.with_name(moved.name + ".why").read_text())["reason"] == "is not valid JSON"


def test_quarantine_of_a_file_that_cannot_be_moved_returns_none_and_does_not_raise(tmp_path):
    assert statefile.Quarantine(tmp_path).put(tmp_path / "gone.json", "is empty") is None


def test_a_quarantined_file_is_named_by_its_utc_time_to_the_microsecond(tmp_path):
    """The name sorts by time and says when: ``<UTC stamp>-<dir>-<name>``."""
    path = tmp_path / "journal" / "d1.json"
    path.parent.mkdir()
    path.write_bytes(b"garbage")
    moved = statefile.Quarantine(tmp_path).put(path, "is not valid JSON")
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-journal-d1\.json", moved.name), moved.name
    assert statefile._utc_stamp(1700000000.25) == "20231114T221320.250000Z"
    assert statefile._utc_stamp(0.0) == "19700101T000000.000000Z"
