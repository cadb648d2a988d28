"""Contract tests of hooks/jinja2: rendering, strictness, the sandbox, and writing only what changed."""
from __future__ import annotations

import json
import os
import sys

import pytest

from tests.fakes.hookrunner import assert_fails_saying, make_item, mode_of, run_hook

pytestmark = pytest.mark.contract


def render(config: dict | str, inputs: dict | None = None, outputs: list[str] | None = None,
           interpreter: list[str] | None = None) -> dict:
    """Run the jinja2 hook with ``config`` (target path -> template) and ``inputs``; its payload."""
    return run_hook("jinja2", make_item("jinja2", config, inputs, outputs=outputs), {}, interpreter=interpreter)


def test_templates_render_with_inputs_and_stdout_lists_the_changed_files(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "sub" / "b.conf"
    config = {str(a): "port={{ port }}\n", str(b): {"template": "{% for h in hosts %}{{ h }}\n{% endfor %}"}}
    payload = render(config, {"port": 8080, "hosts": ["x", "y"]}, outputs=["changed_files"])
    assert payload["deploy_status_code"] == 0, payload
    assert a.read_text() == "port=8080\n" and b.read_text() == "x\ny\n"
    assert payload["deploy_stdout"] == f"{a}\n{b}\n"
    assert json.loads(payload["changed_files"]) == [str(a), str(b)]


def test_config_may_be_a_json_string(tmp_path):
    target = tmp_path / "from-string"
    payload = render(json.dumps({str(target): "{{ deploy_action }}"}))
    assert payload["deploy_status_code"] == 0, payload
    assert target.read_text() == "CREATE"


def test_undefined_variable_fails_naming_it_and_writes_nothing(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    payload = render({str(good): "fine", str(bad): "{{ misspelt_name }}"})
    assert payload["deploy_status_code"] == 1
    assert "'misspelt_name' is undefined" in payload["deploy_stderr"] and str(bad) in payload["deploy_stderr"]
    assert not good.exists() and not bad.exists()


@pytest.mark.parametrize("trick", ["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}",
                                   "{{ (1).__class__.__subclasses__() }}", "{{ v.__class__ }}"])
def test_sandbox_blocks_attribute_tricks(tmp_path, trick):
    target = tmp_path / "escape"
    payload = render({str(target): trick}, {"v": "text"})
    assert payload["deploy_status_code"] == 1
    assert "SecurityError" in payload["deploy_stderr"] and "is unsafe" in payload["deploy_stderr"]
    assert not target.exists()


def test_unchanged_content_is_not_rewritten(tmp_path):
    target = tmp_path / "stable.conf"
    config = {str(target): "value={{ v }}\n"}
    render(config, {"v": 1})
    os.utime(target, (1_000_000, 1_000_000))
    inode = target.stat().st_ino
    payload = render(config, {"v": 1}, outputs=["changed_files"])
    assert payload["deploy_stdout"] == "no file changed (1 up to date)\n"
    assert json.loads(payload["changed_files"]) == []
    assert target.stat().st_mtime == 1_000_000 and target.stat().st_ino == inode
    render(config, {"v": 2})
    assert target.read_text() == "value=2\n" and target.stat().st_mtime != 1_000_000


def test_mode_is_applied_and_a_mode_change_alone_counts_as_a_change(tmp_path):
    target = tmp_path / "secret.conf"
    render({str(target): {"template": "x", "mode": "0600"}})
    assert mode_of(target) == 0o600
    payload = render({str(target): {"template": "x", "mode": "0640"}})
    assert mode_of(target) == 0o640 and payload["deploy_stdout"] == f"{target}\n"


def test_new_files_default_to_0644_and_existing_files_keep_their_mode(tmp_path):
    new, existing = tmp_path / "new", tmp_path / "existing"
    existing.write_text("old")
    existing.chmod(0o600)
    render({str(new): "n", str(existing): "e"})
    assert mode_of(new) == 0o644 and mode_of(existing) == 0o600 and existing.read_text() == "e"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_and_group_are_applied(tmp_path):
    target = tmp_path / "owned"
    render({str(target): {"template": "x", "owner": "nobody", "group": "65534"}})
    assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65534)


def test_unknown_owner_is_a_clear_failure(tmp_path):
    payload = render({str(tmp_path / "f"): {"template": "x", "owner": "no-such-user-here"}})
    assert_fails_saying(payload, "owner 'no-such-user-here' does not exist")


@pytest.mark.parametrize("path", ["relative/file", "file.conf", "../etc/passwd"])
def test_relative_target_paths_are_refused(path):
    payload = render({path: "x"})
    assert_fails_saying(payload, "relative paths are refused")


def test_heat_credentials_are_not_template_variables(tmp_path):
    payload = render({str(tmp_path / "leak"): "{{ deploy_password }}"})
    assert_fails_saying(payload, "'deploy_password' is undefined")


@pytest.mark.parametrize("config", ["", "[1, 2]", "not json", {}])
def test_config_that_is_not_a_path_map_is_refused(config):
    payload = render(config)
    assert_fails_saying(payload, "jinja2 config must be a JSON object")


def test_missing_jinja2_library_is_a_failure_that_says_so(tmp_path):
    # -S: no site-packages, so Jinja2 is not importable, as on an image without python3-jinja2.
    payload = render({str(tmp_path / "f"): "x"}, interpreter=[sys.executable, "-S"])
    assert_fails_saying(payload, "python3-jinja2 is not installed")
