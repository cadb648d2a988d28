"""Contract tests of hooks/chef against tests/fakes/chef-solo, a recorder (chef is not packaged here)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes.hookrunner import FAKES, assert_fails_saying, make_item, mode_of, run_hook, run_recorded, working_env

pytestmark = pytest.mark.contract

RUN_LIST = '["recipe[apache]", "role[web]"]'


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {"working": tmp_path / "working", "outputs": tmp_path / "outputs", "record": tmp_path / "record.json"}


def chef_env(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    """The hook's directories under ``dirs`` and the fake chef-solo, recording into ``dirs["record"]``."""
    return {**working_env("HEAT_CHEF", dirs["working"], dirs["outputs"]),
            "HEAT_CHEF_CMD": str(FAKES / "chef-solo"), "FAKE_CHEF_RECORD": str(dirs["record"]), **extra}


def run_chef(dirs: dict[str, Path], item: dict, hook: str = "chef", **extra: str) -> tuple[dict, dict]:
    """Run the hook against the fake chef-solo; its payload and the recorded call."""
    return run_recorded(hook, item, chef_env(dirs, **extra), dirs["record"])


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_runs_chef_solo_with_the_prepared_config_and_node_file(dirs):
    item = make_item("chef", RUN_LIST)
    payload, record = run_chef(dirs, item)
    run_dir = dirs["working"] / item["id"]
    assert payload["deploy_status_code"] == 0
    assert record["argv"][1:] == ["-c", str(run_dir / "solo.rb"), "-j", str(run_dir / "node.json"), "--no-color"]
    assert record["cwd"] == str(run_dir)
    assert payload["deploy_stdout"] == "fake chef-solo: converged\n"
    assert payload["deploy_stderr"] == "fake chef-solo: a warning\n"


def test_node_file_holds_the_run_list_and_inputs_without_plumbing_or_credentials(dirs):
    inputs = {"port": 8080, "vhosts": ["a", "b"], "admin_password": "pw", "environment": "production"}
    payload, record = run_chef(dirs, make_item("chef", RUN_LIST, inputs))
    assert json.loads(record["node_json"]) == {"run_list": ["recipe[apache]", "role[web]"],
                                               "port": 8080, "vhosts": ["a", "b"]}


def test_solo_rb_points_at_the_kitchen_and_the_deployments_own_files(dirs):
    item = make_item("chef", RUN_LIST, options={"kitchen_path": "/srv/kitchen"})
    _, record = run_chef(dirs, item)
    run_dir, working = dirs["working"] / item["id"], dirs["working"]
    assert record["solo_rb"] == (
        "cookbook_path ['/srv/kitchen/cookbooks']\n"
        "role_path '/srv/kitchen/roles'\n"
        "data_bag_path '/srv/kitchen/data_bags'\n"
        f"file_cache_path '{working}/cache'\n"
        f"json_attribs '{run_dir}/node.json'\n"
        f"node_path '{run_dir}/nodes'\n"
        "log_level :info\n")


def test_environment_input_selects_the_chef_environment(dirs):
    item = make_item("chef", RUN_LIST, {"environment": "it's-prod"}, options={"enable_debug": True})
    _, record = run_chef(dirs, item)
    kitchen = dirs["working"] / "kitchen"
    assert record["solo_rb"].endswith(
        "log_level :debug\n"
        "environment 'it\\'s-prod'\n"
        f"environment_path '{kitchen}/environments'\n")


def test_recipe_outputs_come_back_through_heat_outputs_path(dirs):
    item = make_item("chef", RUN_LIST, outputs=["url"], action="UPDATE")
    payload, record = run_chef(dirs, item, FAKE_CHEF_OUTPUT="url=http://127.0.0.1/")
    assert payload["url"] == "http://127.0.0.1/"
    assert record["env"]["heat_outputs_path"] == str(dirs["outputs"] / item["id"])
    assert record["env"]["deploy_action"] == "UPDATE"
    assert not any("heat-s3cret" in value for value in record["env"].values())


def test_chef_failure_is_a_failure_with_its_exit_code(dirs):
    payload, _ = run_chef(dirs, make_item("chef", RUN_LIST), FAKE_CHEF_EXIT="3")
    assert payload["deploy_status_code"] == 3
    assert "converged" in payload["deploy_stdout"]


@pytest.mark.parametrize("config", ['"recipe[apache]"', '{"run_list": []}', "not json", '["ok", 3]', ""])
def test_config_that_is_not_a_run_list_is_refused_before_chef_runs(dirs, config):
    payload = run_hook("chef", make_item("chef", config), chef_env(dirs))
    assert_fails_saying(payload, "chef config must be a JSON run list")
    assert not dirs["record"].exists()


def test_chef_solo_group_runs_the_same_hook(dirs):
    payload, record = run_chef(dirs, make_item("chef-solo", RUN_LIST), hook="chef-solo")
    assert payload["deploy_status_code"] == 0
    assert json.loads(record["node_json"])["run_list"] == ["recipe[apache]", "role[web]"]


def test_working_files_are_private_and_replaced_on_rerun(dirs):
    item = make_item("chef", RUN_LIST, {"long_attribute_name": "x" * 200})
    run_chef(dirs, item)
    item["inputs"] = [entry for entry in item["inputs"] if entry["name"] != "long_attribute_name"]
    _, record = run_chef(dirs, item)
    run_dir = dirs["working"] / item["id"]
    assert json.loads((run_dir / "node.json").read_text()) == json.loads(record["node_json"])
    assert "long_attribute_name" not in (run_dir / "node.json").read_text()
    assert mode_of(run_dir) == 0o700
    assert mode_of(run_dir / "node.json") == 0o600 and mode_of(run_dir / "solo.rb") == 0o600


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_kitchen_is_cloned_on_create_and_refreshed_on_update(dirs, tmp_path):
    origin = tmp_path / "kitchen-origin"
    (origin / "cookbooks").mkdir(parents=True)
    (origin / "cookbooks" / "v1").write_text("one")
    git("init", "-q", cwd=origin)
    git("add", ".", cwd=origin)
    git("commit", "-q", "-m", "v1", cwd=origin)
    kitchen = tmp_path / "kitchen"
    options = {"kitchen": str(origin), "kitchen_path": str(kitchen)}
    assert run_chef(dirs, make_item("chef", RUN_LIST, options=options))[0]["deploy_status_code"] == 0
    assert (kitchen / "cookbooks" / "v1").read_text() == "one"
    (origin / "cookbooks" / "v2").write_text("two")
    git("add", ".", cwd=origin)
    git("commit", "-q", "-m", "v2", cwd=origin)
    run_chef(dirs, make_item("chef", RUN_LIST, options=options, ident="second-create"))
    assert not (kitchen / "cookbooks" / "v2").exists()
    payload, _ = run_chef(dirs, make_item("chef", RUN_LIST, options=options, action="UPDATE", ident="update"))
    assert payload["deploy_status_code"] == 0, payload
    assert (kitchen / "cookbooks" / "v2").read_text() == "two"


def test_kitchen_that_cannot_be_cloned_is_a_failure_that_says_so(dirs, tmp_path):
    options = {"kitchen": str(tmp_path / "no-such-repo"), "kitchen_path": str(tmp_path / "kitchen")}
    payload = run_hook("chef", make_item("chef", RUN_LIST, options=options), chef_env(dirs))
    assert payload["deploy_status_code"] != 0
    assert "cloning the kitchen" in payload["deploy_stderr"]
    assert not dirs["record"].exists()


def test_missing_chef_solo_is_a_failure_that_says_so(dirs):
    env = chef_env(dirs, HEAT_CHEF_CMD="/nonexistent/chef-solo")
    payload = run_hook("chef", make_item("chef", RUN_LIST), env)
    assert_fails_saying(payload, "chef-solo: command not found", code=127)
