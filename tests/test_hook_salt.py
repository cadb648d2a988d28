"""Contract tests of hooks/salt with the real salt-call from the package index (tests/setup.d/35-hook-tools)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes.hookrunner import ROOT, assert_fails_saying, make_item, mode_of, run_hook

pytestmark = pytest.mark.contract

SALT_VENV = Path(os.environ.get("SALT_VENV", ROOT / ".salt-venv"))
SALT_CALL = SALT_VENV / "bin" / "salt-call"
needs_salt = pytest.mark.skipif(not SALT_CALL.exists(),
                                reason=f"salt is not installed in {SALT_VENV} (tests/setup.d/35-hook-tools)")


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """Working, outputs and a minion config whose root_dir keeps salt's cache, keys and logs in tmp_path."""
    conf = tmp_path / "salt"
    conf.mkdir()
    (conf / "minion").write_text(f"root_dir: {tmp_path / 'salt-root'}\nfile_client: local\n")
    return {"working": tmp_path / "working", "outputs": tmp_path / "outputs", "minion": conf / "minion",
            "target": tmp_path / "target"}


def salt_env(dirs: dict[str, Path]) -> dict[str, str]:
    return {"HEAT_SALT_WORKING": str(dirs["working"]), "HEAT_SALT_OUTPUTS": str(dirs["outputs"]),
            "SALT_MINION_CONFIG": str(dirs["minion"]), "HEAT_SALT_CMD": str(SALT_CALL)}


@needs_salt
def test_state_uses_pillar_inputs_and_writes_an_output(dirs):
    target = dirs["target"]
    state = f"""
{target}:
  file.managed:
    - makedirs: True
    - contents: "listen {{{{ pillar['port'] }}}} for {{{{ pillar['deploy_action'] }}}}"
outputs:
  file.managed:
    - name: "{{{{ pillar['heat_outputs_path'] }}}}.result"
    - contents: "done"
"""
    item = make_item("salt", state, {"port": 8080}, outputs=["result"])
    payload = run_hook("salt", item, salt_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    assert target.read_text().rstrip("\n") == "listen 8080 for CREATE"
    assert payload["result"].rstrip("\n") == "done"
    report = json.loads(payload["deploy_stdout"])["local"]
    assert all(state["result"] for state in report.values())


@needs_salt
def test_a_failing_state_is_a_failure_with_salts_report(dirs):
    state = "broken:\n  cmd.run:\n    - name: 'echo going down; exit 3'\n"
    payload = run_hook("salt", make_item("salt", state), salt_env(dirs))
    assert payload["deploy_status_code"] != 0, payload
    assert "going down" in payload["deploy_stdout"]


@needs_salt
def test_credentials_never_reach_the_pillar_nor_the_command_line(dirs):
    dump = dirs["target"]
    state = f"{dump}:\n  file.managed:\n    - makedirs: True\n    - contents: |\n        {{{{ pillar | json }}}}\n"
    item = make_item("salt", state, {"greeting": "hi", "db_password": "db-s3cret"})
    payload = run_hook("salt", item, salt_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    seen = json.loads(dump.read_text())
    assert seen["greeting"] == "hi" and seen["heat_config_id"] == item["id"]
    assert not {"db_password", "deploy_password", "deploy_signal_id"} & set(seen)
    pillar_dir = dirs["working"] / f"{item['id']}.pillar"
    assert mode_of(pillar_dir) == 0o700 and "db-s3cret" not in (pillar_dir / "heat_inputs.sls").read_text()


@needs_salt
def test_a_structured_config_is_applied_as_a_state(dirs):
    target = dirs["target"]
    config = {str(target): {"file.managed": [{"makedirs": True}, {"contents": "from json"}]}}
    payload = run_hook("salt", make_item("salt", config), salt_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    assert target.read_text().rstrip("\n") == "from json"


def test_an_empty_state_is_a_clear_failure(dirs):
    assert_fails_saying(run_hook("salt", make_item("salt", ""), salt_env(dirs)), "needs a state")


def test_a_missing_salt_call_is_a_failure_that_names_it(dirs, tmp_path):
    env = {**salt_env(dirs), "HEAT_SALT_CMD": str(tmp_path / "no-salt-call")}
    assert_fails_saying(run_hook("salt", make_item("salt", "a: {}"), env), "command not found", code=127)
