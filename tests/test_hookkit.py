"""hookkit, the hooks' shared library, in process: a hook's own failure reaches Heat as one clear line.

The agent shows Heat only the hook's JSON answer, so whatever a hook puts in
``deploy_stderr`` is what a template author sees. A crash must read as the
reason (``cannot write <file>: Permission denied``), not as a Python
traceback; the traceback goes to the hook's own stderr for whoever runs it
by hand. The same checks against the real hook executables are contract
tests: ``tests/test_hook_crash_reports.py``.
"""
from __future__ import annotations

import errno
import io
import json
import os
import sys
from typing import Any

import pytest

from tests.fakes.hookrunner import HOOKS, crash_line, make_item

sys.path.insert(0, str(HOOKS))
import hookkit  # noqa: E402

pytestmark = pytest.mark.unit

ITEM = make_item("puppet", "", ident="abc")


@pytest.fixture
def hook_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``hookkit.main`` as the puppet hook would; return (payload, the hook's own stderr)."""
    def run(handler) -> tuple[dict[str, Any], str]:
        monkeypatch.setattr(sys, "argv", ["/usr/libexec/heat-config/hooks/puppet"])
        monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(ITEM)))
        assert hookkit.main(handler) == 0
        out, err = capsys.readouterr()
        return json.loads(out), err
    return run


# ------------------------------------------------------------- hookkit.main, in process

def test_a_handler_raising_value_error_reports_its_type_and_message_on_one_line(hook_main):
    def handler(item):
        raise ValueError("port must be a number,\n  not 'eighty'")
    payload, own_stderr = hook_main(handler)
    assert crash_line(payload) == "stoker: hook puppet failed: ValueError: port must be a number, not 'eighty'"
    assert payload["deploy_stderr"].count("\n") == 1 and payload["deploy_stdout"] == ""
    assert "Traceback (most recent call last)" in own_stderr and "ValueError" in own_stderr


def test_a_handler_raising_os_error_reports_the_reason_and_both_paths(hook_main):
    def handler(item):
        raise PermissionError(errno.EACCES, "Permission denied", "/etc/a.conf", None, "/etc/b.conf")
    payload, own_stderr = hook_main(handler)
    assert crash_line(payload) == "stoker: hook puppet failed: /etc/a.conf -> /etc/b.conf: Permission denied"
    assert payload["deploy_status_code"] == 1
    assert "PermissionError" in own_stderr


def test_an_os_error_without_a_path_reports_its_reason(hook_main):
    def handler(item):
        raise OSError(errno.EIO, "Input/output error")
    assert crash_line(hook_main(handler)[0]) == "stoker: hook puppet failed: Input/output error"


def test_a_file_that_cannot_be_written_is_named_not_its_temporary_file(hook_main, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".tmp-x1y2"))
    monkeypatch.setattr(hookkit, "_new_file", refuse)
    manifest = tmp_path / "abc.pp"
    payload, _ = hook_main(lambda item: hookkit.write_file(str(manifest), "notify {}"))
    assert crash_line(payload) == f"stoker: hook puppet failed: cannot write {manifest}: Permission denied"


def test_a_full_disk_while_creating_a_directory_is_one_line(hook_main, monkeypatch):
    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    monkeypatch.setattr(os, "makedirs", full)
    payload, _ = hook_main(lambda item: hookkit.ensure_dir("/var/lib/heat-config/heat-config-puppet"))
    assert crash_line(payload) == ("stoker: hook puppet failed: cannot create directory "
                                   "/var/lib/heat-config/heat-config-puppet: No space left on device")


def test_a_parent_directory_that_refuses_is_named_as_the_culprit(hook_main, monkeypatch):
    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/var/lib/heat-config")
    monkeypatch.setattr(os, "makedirs", refuse)
    payload, _ = hook_main(lambda item: hookkit.ensure_dir("/var/lib/heat-config/heat-config-puppet/run"))
    assert crash_line(payload) == ("stoker: hook puppet failed: cannot create directory "
                                   "/var/lib/heat-config/heat-config-puppet/run: /var/lib/heat-config: "
                                   "Permission denied")


def test_a_crash_after_the_tool_ran_keeps_what_the_tool_printed(hook_main):
    def handler(item):
        hookkit.run_tool(["/bin/sh", "-c", "echo applied; echo 'Warning: deprecated' >&2"])
        raise RuntimeError("log directory vanished")
    payload, _ = hook_main(handler)
    assert payload["deploy_stdout"] == "applied\n"
    assert payload["deploy_stderr"] == ("Warning: deprecated\n"
                                        "stoker: hook puppet failed: RuntimeError: log directory vanished\n")


def test_a_very_long_reason_is_cut(hook_main):
    def handler(item):
        raise KeyError("x" * 50_000)
    line = crash_line(hook_main(handler)[0])
    assert line.startswith("stoker: hook puppet failed: KeyError: 'xxx") and line.endswith("...")
    assert len(line) < 2 * hookkit.REASON_LIMIT


def test_an_expected_hook_failure_is_still_reported_as_its_message(hook_main):
    def handler(item):
        raise hookkit.HookFailure("option tags must be a string", code=2)
    payload, own_stderr = hook_main(handler)
    assert payload["deploy_stderr"] == "option tags must be a string" and payload["deploy_status_code"] == 2
    assert own_stderr == ""


def test_marking_an_os_error_keeps_its_type_for_callers_that_catch_it(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(NotADirectoryError) as caught:
        hookkit.ensure_dir(str(blocked / "sub"))
    assert hookkit.describe(caught.value) == f"cannot create directory {blocked / 'sub'}: {blocked}: Not a directory"


# ------------------------------------------------------------- coercion of inputs

@pytest.mark.parametrize("value, text", [("s", "s"), (42, "42"), (3.5, "3.5"), (True, "true"), (False, "false"),
                                         (None, ""), ([1, "a"], '[1, "a"]'), ({"k": None}, '{"k": null}')])
def test_hookkit_as_text_coerces_every_input_type(value, text):
    assert hookkit.as_text(value) == text


def test_hookkit_input_env_skips_names_that_cannot_be_variables_and_nul_bytes():
    item = {"inputs": [{"name": "ok", "value": "a\x00b"}, {"name": "a=b", "value": "x"}, {"name": "", "value": 1},
                       {"name": "dup", "value": 1}, {"name": "dup", "value": 2}, "junk", {"value": 3}]}
    assert hookkit.input_env(item) == {"ok": "ab", "dup": "2"}


def test_scratch_files_are_anonymous_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with hookkit._scratch() as scratch:
        scratch.write(b"tool output")
        scratch.seek(0)
        assert scratch.read() == b"tool output"
    assert list(tmp_path.iterdir()) == [], "a scratch file leaves nothing behind"
