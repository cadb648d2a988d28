"""Unit tests of stoker dispatch's move of upstream's old deployed directory (agent/stoker/cli/dispatch.py)."""
from __future__ import annotations

import pytest

from stoker.cli.dispatch import migrate_deployed_dir

pytestmark = pytest.mark.unit


def test_the_old_deployed_dir_moves_when_the_new_one_does_not_exist(tmp_path):
    old, new = tmp_path / "run" / "deployed", tmp_path / "lib" / "heat-config" / "deployed"
    old.mkdir(parents=True)
    (old / "1111.json").write_text("{}")
    assert migrate_deployed_dir(new, old)
    assert (new / "1111.json").read_text() == "{}" and not old.exists()


def test_an_existing_deployed_dir_is_never_replaced_or_merged(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "a.json").write_text("{}")
    new.mkdir()
    assert not migrate_deployed_dir(new, old)
    assert (old / "a.json").exists() and not (new / "a.json").exists()


def test_nothing_happens_without_an_old_dir_or_when_both_names_are_the_same(tmp_path):
    assert not migrate_deployed_dir(tmp_path / "new", tmp_path / "missing")
    same = tmp_path / "same"
    assert not migrate_deployed_dir(same, same) and not same.exists()


def test_a_move_that_fails_is_logged_and_the_run_goes_on(tmp_path, caplog):
    old = tmp_path / "old"
    old.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert not migrate_deployed_dir(blocker / "deployed", old)
    assert "cannot move the deployed files" in caplog.text and old.is_dir()
