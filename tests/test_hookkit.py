"""Tests of hookkit's crash reporting: a hook's own failure reaches Heat as one clear line.

The agent shows Heat only the hook's JSON answer, so whatever a hook puts in
``deploy_stderr`` is what a template author sees. A crash must read as the
reason (``cannot write <file>: Permission denied``), not as a Python
traceback; the traceback goes to the hook's own stderr for whoever runs it
by hand. The process-level tests run the real hook executables.
"""
from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.hookrunner import FAKES, HOOKS, hook_env, make_item, run_hook

sys.path.insert(0, str(HOOKS))
import hookkit  # noqa: E402

ITEM = make_item("puppet", "", ident="abc")

# Each hook that keeps working files: its environment prefix and a config it accepts,
# so that the run gets as far as creating its directories.
WORKING_HOOKS = {
    "puppet": ("HEAT_PUPPET", 'notify { "hi": }'),
    "ansible": ("HEAT_ANSIBLE", "- hosts: localhost\n  tasks: []\n"),
    "chef": ("HEAT_CHEF", '["recipe[apache]"]'),
    "chef-solo": ("HEAT_CHEF", '["recipe[apache]"]'),
    "script": ("HEAT_SCRIPT", "#!/bin/sh\necho hi\n"),
}
ALL_HOOKS = sorted([*WORKING_HOOKS, "jinja2", "json-file"])


def crash_line(payload: dict[str, Any]) -> str:
    """The one ``stoker:`` line of a failed payload, after checking there is no traceback."""
    stderr = payload["deploy_stderr"]
    assert payload["deploy_status_code"] != 0, payload
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("stoker:")]
    assert len(lines) == 1, stderr
    assert stderr.endswith(lines[0] + "\n"), "the reason is the last line, where Heat users look"
    return lines[0]


def run_raw(hook: str, stdin: bytes, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """Run a hook with raw bytes on stdin; return its answer and its own stderr."""
    proc = subprocess.run([str(HOOKS / hook)], input=stdin, capture_output=True, env=hook_env(env or {}),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr.decode()


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A regular file where a hook wants a directory: ENOTDIR beneath it, even for root."""
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return path


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
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
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


# ------------------------------------------------------------- the real hooks, as processes

@pytest.mark.parametrize("hook", sorted(WORKING_HOOKS))
def test_every_hook_that_cannot_create_its_working_dir_reports_one_line_not_a_traceback(hook, blocker):
    prefix, config = WORKING_HOOKS[hook]
    working = blocker / "working"
    env = {f"{prefix}_WORKING": str(working), f"{prefix}_OUTPUTS": str(blocker.parent / "outputs"),
           f"{prefix}_CMD": str(FAKES / "recorder"), "FAKE_RECORD": str(blocker.parent / "record.json")}
    line = crash_line(run_hook(hook, make_item(hook, config), env))
    assert line == f"stoker: hook {hook} failed: cannot create directory {working}: {blocker}: Not a directory"
    assert not (blocker.parent / "record.json").exists(), "the tool must not run"


@pytest.mark.parametrize("hook", sorted(WORKING_HOOKS))
def test_every_hook_that_cannot_create_its_outputs_dir_reports_one_line(hook, blocker):
    prefix, config = WORKING_HOOKS[hook]
    env = {f"{prefix}_WORKING": str(blocker.parent / "working"), f"{prefix}_OUTPUTS": str(blocker),
           f"{prefix}_CMD": str(FAKES / "recorder"), "FAKE_RECORD": str(blocker.parent / "record.json")}
    line = crash_line(run_hook(hook, make_item(hook, config), env))
    assert line == f"stoker: hook {hook} failed: cannot create directory {blocker}: it exists and is not a directory"


@pytest.mark.parametrize("hook, failed_step", [("jinja2", "read {target}"),  # it compares before writing
                                               ("json-file", "create directory {target.parent}")])
def test_a_file_writing_hook_whose_target_is_under_a_file_reports_one_line(hook, failed_step, blocker):
    target = blocker / "etc" / "app.conf"
    line = crash_line(run_hook(hook, make_item(hook, {str(target): "x"}), {}))
    step = failed_step.format(target=target)
    assert line == f"stoker: hook {hook} failed: cannot {step}: {blocker}: Not a directory"


@pytest.mark.parametrize("hook", ALL_HOOKS)
@pytest.mark.parametrize("stdin, reason", [
    (b"", "stdin is empty"),
    (b"{not json", "the deployment item on stdin is not JSON"),
    (b'["an", "array"]', "the deployment item on stdin is a JSON array, not a JSON object"),
    (b"null", "the deployment item on stdin is a JSON null, not a JSON object"),
])
def test_a_malformed_item_on_stdin_is_one_clear_line_for_every_hook(hook, stdin, reason):
    payload, own_stderr = run_raw(hook, stdin)
    assert payload["deploy_status_code"] == 1
    assert payload["deploy_stderr"].startswith(reason) and "\n" not in payload["deploy_stderr"].rstrip("\n")
    assert "Traceback" not in payload["deploy_stderr"] + own_stderr


def test_a_crashed_hook_run_by_hand_shows_the_traceback_on_its_own_stderr(blocker):
    item = json.dumps(make_item("script", "echo hi")).encode()
    payload, own_stderr = run_raw("script", item, {"HEAT_SCRIPT_WORKING": str(blocker / "working")})
    assert "Traceback" not in payload["deploy_stderr"]
    assert "Traceback (most recent call last)" in own_stderr and "NotADirectoryError" in own_stderr
