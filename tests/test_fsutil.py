"""fsutil: every state write leaves the old file or the new one, never a torn one, and keeps it private."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
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


# ------------------------------------------------------------------ remove_tree


def test_remove_tree_removes_nested_directories_files_and_links(tmp_path):
    tree = tmp_path / "run"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "stdin").write_bytes(b"{}")
    (tree / "a" / "b" / "deep").write_text("x")
    (tree / "a" / "dangling").symlink_to(tmp_path / "nowhere")
    os.chmod(tree / "a" / "b", 0o500)  # root removes it anyway; others see the same as rm -rf
    fsutil.remove_tree(tree)
    assert not tree.exists() and not tree.is_symlink()


def test_remove_tree_never_follows_a_link_out_of_the_tree(tmp_path):
    """A hook may leave a link to a directory it does not own in its run directory."""
    outside = tmp_path / "precious"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "keep").write_text("keep me")
    tree = tmp_path / "run"
    tree.mkdir()
    (tree / "link-to-dir").symlink_to(outside)
    (tree / "link-to-file").symlink_to(outside / "sub" / "keep")
    fsutil.remove_tree(tree)
    assert not tree.exists()
    assert (outside / "sub" / "keep").read_text() == "keep me"


def test_remove_tree_of_a_link_removes_the_link_only(tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep").write_text("keep me")
    link = tmp_path / "run"
    link.symlink_to(outside)
    fsutil.remove_tree(link)
    assert not link.is_symlink() and (outside / "keep").read_text() == "keep me"


def test_remove_tree_of_nothing_does_not_raise(tmp_path):
    fsutil.remove_tree(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    fsutil.remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()


def test_the_resident_agent_does_not_load_shutil_or_datetime():
    """``shutil`` brings zlib, bz2 and lzma; ``datetime`` is only for printed times: the daemon
    imports neither (bench: idle resident memory); the commands that need them import them."""
    code = ("import sys, stoker.cli, stoker.daemon, stoker.sources.tempurl, stoker.signals.tempurl\n"
            "stoker.cli.build_parser()\n"
            "print(','.join(m for m in ('shutil', 'zlib', 'bz2', 'lzma', 'datetime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "", f"loaded by the daemon's imports: {out.stdout}"
