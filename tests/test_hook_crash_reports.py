"""Every real hook executable reports its own crash as one clear line, never a traceback.

Contract tests of the hooks built on hookkit (in-process tests of hookkit
itself: ``tests/test_hookkit.py``): a working or outputs directory that cannot
be created, a target under a file, and a malformed item on stdin each end in
a payload whose last ``deploy_stderr`` line is the reason.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.hookrunner import crash_line, make_item, recorder_env, run_hook, run_hook_raw, working_env

pytestmark = pytest.mark.contract

# Each hook that keeps working files: its environment prefix and a config it accepts,
# so that the run gets as far as creating its directories.
WORKING_HOOKS = {
    "puppet": ("HEAT_PUPPET", 'notify { "hi": }'),
    "ansible": ("HEAT_ANSIBLE", "- hosts: localhost\n  tasks: []\n"),
    "chef": ("HEAT_CHEF", '["recipe[apache]"]'),
    "chef-solo": ("HEAT_CHEF", '["recipe[apache]"]'),
    "script": ("HEAT_SCRIPT", "#!/bin/sh\necho hi\n"),
    "salt": ("HEAT_SALT", "a_state:\n  test.nop: []\n"),
}
ALL_HOOKS = sorted([*WORKING_HOOKS, "jinja2", "json-file", "hiera", "apply-config"])


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A regular file where a hook wants a directory: ENOTDIR beneath it, even for root."""
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return path


@pytest.mark.parametrize("hook", sorted(WORKING_HOOKS))
def test_every_hook_that_cannot_create_its_working_dir_reports_one_line_not_a_traceback(hook, blocker):
    prefix, config = WORKING_HOOKS[hook]
    working = blocker / "working"
    env = {**working_env(prefix, working, blocker.parent / "outputs"),
           **recorder_env(prefix, blocker.parent / "record.json")}
    line = crash_line(run_hook(hook, make_item(hook, config), env))
    assert line == f"stoker: hook {hook} failed: cannot create directory {working}: {blocker}: Not a directory"
    assert not (blocker.parent / "record.json").exists(), "the tool must not run"


@pytest.mark.parametrize("hook", sorted(WORKING_HOOKS))
def test_every_hook_that_cannot_create_its_outputs_dir_reports_one_line(hook, blocker):
    prefix, config = WORKING_HOOKS[hook]
    env = {**working_env(prefix, blocker.parent / "working", blocker),
           **recorder_env(prefix, blocker.parent / "record.json")}
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
    payload, own_stderr = run_hook_raw(hook, stdin)
    assert payload["deploy_status_code"] == 1
    assert payload["deploy_stderr"].startswith(reason) and "\n" not in payload["deploy_stderr"].rstrip("\n")
    assert "Traceback" not in payload["deploy_stderr"] + own_stderr


def test_a_crashed_hook_run_by_hand_shows_the_traceback_on_its_own_stderr(blocker):
    item = json.dumps(make_item("script", "echo hi")).encode()
    payload, own_stderr = run_hook_raw("script", item, {"HEAT_SCRIPT_WORKING": str(blocker / "working")})
    assert "Traceback" not in payload["deploy_stderr"]
    assert "Traceback (most recent call last)" in own_stderr and "NotADirectoryError" in own_stderr
