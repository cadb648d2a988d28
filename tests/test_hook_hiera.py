"""Contract tests of hooks/hiera: the files it writes, read back by a real ``puppet apply`` with hiera."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes.hookrunner import assert_fails_saying, make_item, mode_of, run_hook

pytestmark = pytest.mark.contract

needs_puppet = pytest.mark.skipif(shutil.which("puppet") is None,
                                  reason="puppet is not installed (tests/setup.d/10-apt installs it)")


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return {"datadir": tmp_path / "hieradata", "config": tmp_path / "puppet" / "hiera.yaml"}


def hiera_env(paths: dict[str, Path]) -> dict[str, str]:
    return {"HEAT_PUPPET_HIERA_DATADIR": str(paths["datadir"]), "HEAT_HIERA_CONFIG": str(paths["config"])}


def puppet_lookup(paths: dict[str, Path], manifest: str) -> str:
    """Apply ``manifest`` with the hiera config the hook wrote; puppet's output (it must succeed)."""
    proc = subprocess.run(["puppet", "apply", "--color", "false", "--hiera_config", str(paths["config"]),
                           "-e", manifest], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@needs_puppet
def test_a_manifest_looks_up_keys_the_hook_wrote_most_specific_level_first(paths):
    config = {"hierarchy": ["nodes/web1", "common"],
              "datafiles": {"nodes/web1": {"web::port": 8080},
                            "common": {"web::port": 80, "web::motd": "hello from hiera"}}}
    payload = run_hook("hiera", make_item("hiera", config), hiera_env(paths))
    assert payload == {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}
    out = puppet_lookup(paths, 'notice("port=${lookup(\'web::port\')} motd=${lookup(\'web::motd\')}")')
    assert "port=8080 motd=hello from hiera" in out


@needs_puppet
def test_the_puppet_hooks_enable_hiera_data_is_found_through_the_hiera_hooks_hierarchy(paths, tmp_path):
    """The two hooks together, as templates use them: hiera names the puppet hook's data file."""
    puppet_env = {"HEAT_PUPPET_WORKING": str(tmp_path / "pw"), "HEAT_PUPPET_OUTPUTS": str(tmp_path / "po"),
                  "HEAT_PUPPET_LOGDIR": str(tmp_path / "logs"), "HEAT_PUPPET_HIERA_DATADIR": str(paths["datadir"]),
                  "HEAT_PUPPET_CMD": "true"}
    item = make_item("puppet", "", {"listen_port": 9090}, options={"enable_hiera": True}, name="web_config")
    assert run_hook("puppet", item, puppet_env)["deploy_status_code"] == 0
    run_hook("hiera", make_item("hiera", {"hierarchy": ["heat_config_web_config"]}), hiera_env(paths))
    assert "port 9090" in puppet_lookup(paths, 'notice("port ${lookup(\'listen_port\')}")')


def test_files_match_upstreams_bytes_and_modes(paths):
    config = {"hierarchy": ["compute"], "datafiles": {"compute": {"foo": "bar", "a": [1, 2]}}}
    run_hook("hiera", make_item("hiera", json.dumps(config)), hiera_env(paths))
    data = paths["datadir"] / "compute.json"
    assert data.read_text() == '{\n    "a": [\n        1,\n        2\n    ],\n    "foo": "bar"\n}'
    assert mode_of(data) == 0o600 and mode_of(paths["config"]) == 0o600
    text = paths["config"].read_text()
    assert "version: 5" in text and f'datadir: "{paths["datadir"]}"' in text
    assert '- name: "compute"\n    path: "compute.json"' in text


def test_without_a_hierarchy_only_the_data_files_are_written(paths):
    run_hook("hiera", make_item("hiera", {"datafiles": {"extra": {"k": 1}}}), hiera_env(paths))
    assert (paths["datadir"] / "extra.json").exists() and not paths["config"].exists()


@pytest.mark.parametrize("config, words", [
    ("", "must be an object"),
    ({"something": 1}, "must be an object with 'datafiles'"),
    ({"datafiles": {"../etc/passwd": {}}}, "relative name inside the data directory"),
    ({"datafiles": {"ok": {}}, "hierarchy": "ok"}, "'hierarchy' must be a list"),
    ({"datafiles": ["a"]}, "'datafiles' must be an object"),
])
def test_a_bad_config_writes_nothing_and_says_why(paths, config, words):
    payload = run_hook("hiera", make_item("hiera", config), hiera_env(paths))
    assert_fails_saying(payload, words)
    assert not paths["datadir"].exists() and not paths["config"].exists()
