"""``stoker plan``: what would run next, proven to change nothing, with the tools' own dry runs.

Each test runs ``stoker plan`` as a process against a real journal (made by
``stoker apply``) and, for the live form, against the loopback cloud. The
"writes nothing" proof compares every file under the test's directory (state,
deployed items, hook directories, targets) and the process's TMPDIR before and
after; puppet and ansible dry runs use the real tools.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.agent_helpers import Agent, item, script_item
from tests.test_signals import deployment, document as signal_document, write_config

pytestmark = pytest.mark.contract

CHANGES_PENDING = 7

needs_puppet = pytest.mark.skipif(shutil.which("puppet") is None, reason="puppet is not installed")
needs_ansible = pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="ansible is not installed")


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file and directory under ``root``: mode and content digest (what 'nothing changed' means)."""
    found = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(root))] = (stat.st_mode, digest)
    return found


class Planner:
    """An agent whose ``plan`` runs get their own TMPDIR, so leftovers there are seen too."""

    def __init__(self, root: Path) -> None:
        self.agent = Agent(root / "world")
        self.targets = root / "world" / "targets"
        self.targets.mkdir()
        self.tmp = root / "tmp"
        self.tmp.mkdir()
        self.agent.extra_env["TMPDIR"] = str(self.tmp)
        for name in ("PUPPET", "ANSIBLE"):
            for kind in ("WORKING", "OUTPUTS"):
                self.agent.extra_env[f"HEAT_{name}_{kind}"] = str(root / "world" / f"{name.lower()}-{kind.lower()}")
        self.agent.extra_env["HEAT_PUPPET_HIERA_DATADIR"] = str(root / "world" / "hiera")
        self.agent.env()  # writes the test's empty config file now, not during the compared run

    def plan(self, items: list[dict], *args: str):
        path = self.agent.root.parent / "metadata.json"  # outside the compared tree
        path.write_text(json.dumps({"deployments": items}))
        before = tree(self.agent.root)
        result = self.agent.run("plan", *args, str(path), timeout=180)
        assert tree(self.agent.root) == before, "stoker plan changed files: " + result.stdout + result.stderr
        assert list(self.tmp.iterdir()) == [], "stoker plan left files in its temporary directory"
        return result


@pytest.fixture
def planner(tmp_path: Path) -> Planner:
    return Planner(tmp_path)


def pending(result) -> list[dict]:
    assert result.returncode == CHANGES_PENDING, result.stdout + result.stderr
    return json.loads(result.stdout)["pending"]


def test_plan_lists_pending_deployments_in_run_order_and_runs_no_script(planner):
    marker = planner.targets / "ran"
    items = [script_item("a", f"#!/bin/sh\ntouch {marker}\n"),
             item("b", "", group="no-such-tool"),
             script_item("c", f"#!/bin/sh\ntouch {marker}\n")]
    rows = pending(planner.plan(items, "--json"))
    assert [(r["id"], r["would"]) for r in rows] == [("a", "run"), ("b", "fail"), ("c", "run")]
    assert rows[0]["hook"].endswith("/hooks/script") and rows[0]["dry_run"] is None
    assert "no hook for group 'no-such-tool'" in rows[1]["reason"]
    assert (rows[0]["stack"], rows[0]["resource"]) == ("teststack", "deployment-a")
    assert not marker.exists(), "a script has no dry run: plan must never start it"
    text = planner.plan(items).stdout
    assert "would run the hook (it has no dry run, so it was not started)" in text


def test_plan_says_nothing_would_run_once_everything_ran_and_exits_0(planner):
    items = [script_item("a", "#!/bin/sh\ntrue\n")]
    assert planner.agent.apply(items).returncode == 0
    result = planner.plan(items)
    assert result.returncode == 0 and "nothing would run" in result.stdout


def test_plan_of_an_unreadable_file_exits_2(planner):
    path = planner.agent.write_document("{not json", name="bad.json")
    result = planner.agent.run("plan", str(path))
    assert result.returncode == 2 and "cannot plan" in result.stderr


def test_plan_shows_what_changed_since_the_last_run_with_secrets_masked(planner):
    first = script_item("v1", "#!/bin/sh\necho one\n", name="app",
                        inputs=[{"name": "colour", "value": "blue"}, {"name": "db_password", "value": "s3cret-1"}])
    assert planner.agent.apply([first]).returncode == 0
    second = script_item("v2", "#!/bin/sh\necho two\n", name="app",
                         inputs=[{"name": "colour", "value": "green"}, {"name": "db_password", "value": "s3cret-2"}])
    result = planner.plan([second], "--json")
    row = pending(result)[0]
    assert row["last_run"]["id"] == "v1"
    assert row["changes"]["inputs"]["colour"] == {"before": "blue", "after": "green"}
    assert row["changes"]["inputs"]["db_password"] == {"changed": "(secret: masked)"}
    assert "-echo one" in row["changes"]["config"] and "+echo two" in row["changes"]["config"]
    text = planner.plan([second]).stdout
    assert "input colour: 'blue' -> 'green'" in text
    for output in (result.stdout, text):
        assert "s3cret" not in output


def test_json_file_and_jinja2_dry_runs_show_diffs_and_write_nothing(planner):
    existing = planner.targets / "app.json"
    existing.write_text('{\n    "port": 80\n}')  # json-file writes upstream's layout
    rendered = planner.targets / "motd"
    items = [item("j", {str(existing): {"port": 8080}}, group="json-file"),
             item("t", {str(rendered): "hello {{ who }}\n"}, group="jinja2",
                  inputs=[{"name": "who", "value": "world"}])]
    rows = pending(planner.plan(items, "--json"))
    assert rows[0]["dry_run"]["how"] == "a diff of the files it would write"
    assert '-    "port": 80' in rows[0]["dry_run"]["stdout"] and '+    "port": 8080' in rows[0]["dry_run"]["stdout"]
    assert "+hello world" in rows[1]["dry_run"]["stdout"]
    assert existing.read_text() == '{\n    "port": 80\n}' and not rendered.exists()


@needs_puppet
def test_puppet_dry_run_is_real_puppet_noop_and_changes_nothing(planner):
    target = planner.targets / "from-puppet"
    manifest = f"file {{ '{target}': content => \"hello\\n\" }}\n"
    rows = pending(planner.plan([item("p", manifest, group="puppet")], "--json"))
    run = rows[0]["dry_run"]
    assert run["how"] == "puppet apply --noop"
    assert run["status_code"] == 0, run
    assert "(noop)" in run["stdout"] and str(target) in run["stdout"]
    assert not target.exists()


@needs_ansible
def test_ansible_dry_run_is_real_check_and_diff_and_changes_nothing(planner):
    target = planner.targets / "from-ansible"
    playbook = json.dumps([{"hosts": "localhost", "gather_facts": False,
                            "tasks": [{"copy": {"dest": str(target), "content": "hello\n"}}]}])
    rows = pending(planner.plan([item("a", playbook, group="ansible")], "--json"))
    run = rows[0]["dry_run"]
    assert run["how"] == "ansible-playbook --check --diff"
    assert run["status_code"] == 0, run
    assert "+hello" in run["stdout"] and "changed=1" in run["stdout"]
    assert not target.exists()


def test_a_hook_without_the_dry_run_mark_is_never_started(planner):
    marker = planner.targets / "started"
    planner.agent.write_hook("custom", f"#!/bin/sh\ntouch {marker}\necho '{{}}'\n")
    rows = pending(planner.plan([item("x", "", group="custom")], "--json"))
    assert rows[0]["hook"].endswith("/custom") and rows[0]["dry_run"] is None
    assert not marker.exists()


def test_plan_against_the_live_metadata_fetches_once_and_changes_no_state(tmp_path, cloud):
    agent = Agent(tmp_path / "world")
    collect = cloud.os_collect_config("POLL_SERVER_CFN")
    write_config(agent, sections={"cfn": collect["cfn"]})
    agent.env()
    cloud.publish(signal_document([deployment(cloud, "live1", transport="CFN_SIGNAL")], collect))
    before = tree(agent.root)
    result = agent.run("plan", "--json")
    assert result.returncode == CHANGES_PENDING, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert [r["id"] for r in document["pending"]] == ["live1"]
    assert document["metadata"].startswith("cfn at http://127.0.0.1")
    assert tree(agent.root) == before, "plan against live metadata must not write state"
    assert not cloud.signals, "plan must never signal"


def test_plan_against_no_configured_source_exits_6_and_says_so(tmp_path):
    agent = Agent(tmp_path / "world")
    write_config(agent)
    result = agent.run("plan")
    assert result.returncode == 6 and "no metadata source is configured" in result.stderr
    assert not (agent.root / "state").exists() or os.listdir(agent.root / "state") == []
