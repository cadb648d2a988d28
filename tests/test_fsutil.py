"""fsutil: every state write leaves the old file or the new one, never a torn one, and keeps it private."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from stoker import fsutil
from tests.fakes.hookrunner import mode_of

pytestmark = pytest.mark.unit


def leftovers(directory: Path) -> list[str]:
    """Temporary files an interrupted write left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_the_whole_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"old and longer than what replaces it")
    fsutil.atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and leftovers(tmp_path) == []


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, step):
    path = tmp_path / "state.json"
    path.write_bytes(b"old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(os, step, full)
        with pytest.raises(OSError):
            fsutil.atomic_write(path, b"new")
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_new_files_are_0600_and_their_new_directory_0700(tmp_path):
    path = tmp_path / "journal" / "d1.json"
    fsutil.atomic_write(path, b"{}")
    assert mode_of(path) == 0o600 and mode_of(tmp_path / "journal") == 0o700


def test_the_mode_given_is_applied_even_over_a_file_with_another_mode(tmp_path):
    path = tmp_path / "notify.json"
    path.write_text("{}")
    path.chmod(0o666)
    fsutil.write_json(path, {"a": 1}, mode=0o640)
    assert mode_of(path) == 0o640


def test_write_json_round_trips_through_read_json_with_sorted_keys(tmp_path):
    path = tmp_path / "value.json"
    fsutil.write_json(path, {"b": [1, None], "a": "é"})
    assert fsutil.read_json(path) == {"a": "é", "b": [1, None]}
    assert path.read_text().startswith('{"a"')


def test_read_json_of_a_missing_file_is_none(tmp_path):
    assert fsutil.read_json(tmp_path / "absent.json") is None


def test_remove_of_a_missing_file_is_not_an_error(tmp_path):
    path = tmp_path / "gone"
    path.write_text("x")
    fsutil.remove(path)
    fsutil.remove(path)
    assert not path.exists()
