"""Contract tests of hooks/ansible: real ``ansible-playbook`` on localhost, a recorder for argv."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fakes.hookrunner import (assert_fails_saying, make_item, mode_of, recorder_env, run_hook, run_recorded,
                                    working_env)

pytestmark = pytest.mark.contract

needs_ansible = pytest.mark.skipif(shutil.which("ansible-playbook") is None,
                                   reason="ansible-core is not installed (tests/setup.d/10-apt installs it)")

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: write the greeting
      copy:
        dest: "{{ target }}"
        content: "{{ greeting }}\\n"
    - name: answer Heat
      copy:
        dest: "{{ heat_outputs_path }}.result"
        content: "done {{ deploy_action }}"
"""


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("working", "outputs", "target")}


def ansible_env(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    """The hook's directories under ``dirs``, and ansible's own temporary files beside them."""
    return {**working_env("HEAT_ANSIBLE", dirs["working"], dirs["outputs"]),
            "ANSIBLE_LOCAL_TEMP": str(dirs["working"].parent / "ansible-tmp"), **extra}


def recorded_run(dirs: dict[str, Path], item: dict) -> tuple[dict, dict]:
    """Run the hook with the recorder as ansible-playbook; its payload and the recorded call."""
    record = dirs["working"].parent / "record.json"
    return run_recorded("ansible", item, ansible_env(dirs, **recorder_env("HEAT_ANSIBLE", record)), record)


@needs_ansible
def test_playbook_writes_a_file_from_an_extra_var_and_returns_an_output(dirs):
    target = dirs["target"] / "greeting.txt"
    dirs["target"].mkdir()
    item = make_item("ansible", PLAYBOOK, {"greeting": "hello", "target": str(target)}, outputs=["result"])
    payload = run_hook("ansible", item, ansible_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    assert target.read_text() == "hello\n"
    assert payload["result"] == "done CREATE"
    assert "write the greeting" in payload["deploy_stdout"]


@needs_ansible
def test_failing_task_is_a_failure(dirs):
    playbook = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail: {msg: broken on purpose}\n"
    payload = run_hook("ansible", make_item("ansible", playbook), ansible_env(dirs))
    assert payload["deploy_status_code"] != 0
    assert "broken on purpose" in payload["deploy_stdout"]


@needs_ansible
def test_structured_config_runs_as_a_json_playbook(dirs):
    target = dirs["target"] / "from-json"
    dirs["target"].mkdir()
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"copy": {"dest": str(target), "content": "{{ greeting }}"}}]}]
    payload = run_hook("ansible", make_item("ansible", play, {"greeting": "json"}), ansible_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    assert target.read_text() == "json"


def test_extra_vars_file_is_private_and_holds_no_credentials(dirs):
    item = make_item("ansible", PLAYBOOK, {"greeting": "hi", "db_password": "db-s3cret"})
    _, record = recorded_run(dirs, item)
    vars_file = dirs["working"] / f"{item['id']}_variables.json"
    values = json.loads(vars_file.read_text())
    assert values["greeting"] == "hi" and values["deploy_action"] == "CREATE"
    assert values["heat_outputs_path"] == str(dirs["outputs"] / item["id"])
    assert not {"db_password", "deploy_password", "deploy_signal_id"} & set(values)
    assert mode_of(vars_file) == 0o600 and mode_of(dirs["working"]) == 0o700
    assert "heat-s3cret" not in json.dumps(record["env"])


def test_command_line_runs_locally_with_tags_skip_tags_and_module_path(dirs):
    item = make_item("ansible", PLAYBOOK, options={"tags": ["a", "b"], "skip_tags": "c",
                                                  "modulepath": "/usr/share/my-modules"})
    _, record = recorded_run(dirs, item)
    working = dirs["working"]
    assert record["argv"][1:] == ["-i", "localhost,", "--module-path", "/usr/share/my-modules",
                                  "--skip-tags", "c", "--tags", "a,b", str(working / f"{item['id']}_playbook.yaml"),
                                  "--extra-vars", f"@{working / (item['id'] + '_variables.json')}"]
    assert record["env"]["ANSIBLE_TRANSPORT"] == "local"
    assert record["env"]["heat_outputs_path"] == str(dirs["outputs"] / item["id"])
    assert record["cwd"] == str(working)


def test_rerun_replaces_the_playbook_instead_of_appending(dirs):
    item = make_item("ansible", PLAYBOOK + "\n# a long trailing comment\n")
    recorded_run(dirs, item)
    item["config"] = PLAYBOOK
    recorded_run(dirs, item)
    assert (dirs["working"] / f"{item['id']}_playbook.yaml").read_text() == PLAYBOOK


def test_empty_playbook_is_a_clear_failure(dirs):
    payload = run_hook("ansible", make_item("ansible", ""), ansible_env(dirs))
    assert_fails_saying(payload, "needs a playbook")


def test_missing_ansible_is_a_failure_that_says_so(dirs):
    env = ansible_env(dirs, HEAT_ANSIBLE_CMD="/nonexistent/ansible-playbook")
    payload = run_hook("ansible", make_item("ansible", PLAYBOOK), env)
    assert_fails_saying(payload, "ansible-playbook: command not found", code=127)
