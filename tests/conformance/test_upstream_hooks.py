"""An upstream hook stoker does not ship runs unchanged under ``stoker dispatch``.

heat-agents' docker-compose hook, taken from the sdist as it is (tests/conformance/upstream.py
fetches it), is put in ``$HEAT_CONFIG_HOOKS`` under its group name; its tool is upstream's
own recording fake. stoker must hand it the item as Heat sent it, and record and report its
answer as upstream's dispatcher would.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance import upstream

pytestmark = pytest.mark.conformance

ITEM = {
    "id": "5b0e6a3c-compose", "name": "web_stack", "group": "docker-compose",
    "inputs": [{"name": "env_files", "value": '[{"file_name": "./web.env", "content": "PORT=8080"}]'},
               {"name": "deploy_action", "value": "CREATE"},
               {"name": "deploy_signal_transport", "value": "NO_SIGNAL"}],
    "config": {"web": {"image": "nginx", "env_file": "./web.env"}},
}


def test_upstreams_docker_compose_hook_runs_unchanged_under_stoker_dispatch(tmp_path):
    tree = upstream.unpack(upstream.fetch_sdist(), tmp_path)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    shutil.copy(tree / "heat-config-docker-compose" / "install.d" / "hook-docker-compose.py", hooks / "docker-compose")
    (hooks / "docker-compose").chmod(0o755)
    shell_config = tmp_path / "heat-config"
    shell_config.write_text(json.dumps([ITEM]))
    record = tmp_path / "docker-compose-call.json"
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "HEAT_CONFIG_HOOKS": str(hooks), "HEAT_SHELL_CONFIG": str(shell_config),
           "HEAT_CONFIG_DEPLOYED": str(tmp_path / "deployed"), "STOKER_STATE_DIR": str(tmp_path / "state"),
           "HEAT_DOCKER_COMPOSE_WORKING": str(tmp_path / "compose"),
           "HEAT_DOCKER_COMPOSE_CMD": str(tree / "tests" / "config-tool-fake.py"), "TEST_STATE_PATH": str(record),
           "TEST_RESPONSE": json.dumps({"stdout": "", "stderr": "Creating web_stack_web_1 ... done"})}
    proc = subprocess.run([str(Path(sys.executable).parent / "stoker"), "dispatch"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    deployed = tmp_path / "deployed"
    assert json.loads((deployed / f"{ITEM['id']}.json").read_text()) == ITEM
    assert json.loads((deployed / f"{ITEM['id']}.notify.json").read_text()) == {
        "deploy_stdout": "", "deploy_stderr": "Creating web_stack_web_1 ... done", "deploy_status_code": 0}
    call = json.loads(record.read_text())
    assert call["args"][1:] == ["up", "-d", "--no-build"]
    assert (tmp_path / "compose" / "web_stack" / "web.env").read_text() == "PORT=8080"
