"""The documents and hook answers that used to crash the agent, run through the real commands.

Each one once ended in a Python traceback, and four of them in a crash loop of
the daemon (restarted by systemd, crashing again at once, never signalling).
Now each ends in a reported failure, and the agent keeps going.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.agent_helpers import Agent, item, script_item, wait_for
from tests.test_daemon import finished, running_daemon

pytestmark = pytest.mark.faults

LONG_GROUP = "g" * 300
INFINITE_CODE_HOOK = "#!/bin/sh\ncat >/dev/null\necho '{\"deploy_status_code\": Infinity}'\n"


@pytest.fixture
def agent(tmp_path):
    return Agent(tmp_path)


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


def bad_items() -> list[dict]:
    """One item of each kind that crashed the agent, plus a good one after them."""
    inputs_not_a_list = item("bad-inputs", "#!/bin/sh\n", name="10_inputs")
    inputs_not_a_list["inputs"] = 5
    list_named_input = item("bad-name", "#!/bin/sh\n", name="20_name")
    list_named_input["inputs"].append({"name": ["a", "list"], "value": 1})
    return [inputs_not_a_list, list_named_input,
            item("long-group", "", group=LONG_GROUP, name="30_group"),
            item("infinite", "", group="infinite", name="40_infinite"),
            script_item("good", "#!/bin/sh\necho fine\n", name="50_good")]


def test_a_document_nested_100000_deep_exits_2_with_one_line(agent):
    result = agent.apply("[" * 100_000 + "]" * 100_000)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nests too deeply" in lines[0], lines


def test_items_that_crashed_the_agent_are_each_failed_with_a_reason_and_the_next_one_runs(agent):
    agent.write_hook("infinite", INFINITE_CODE_HOOK)
    result = agent.apply(bad_items())
    assert_no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr
    reasons = {key: agent.notify(key)["deploy_stderr"] for key in
               ("bad-inputs", "bad-name", "long-group", "infinite")}
    assert "inputs must be a list" in reasons["bad-inputs"]
    assert "inputs[" in reasons["bad-name"] and "needs a string 'name'" in reasons["bad-name"]
    assert "a hook name has at most 200" in reasons["long-group"]
    assert "Infinity, which is not a JSON number" in reasons["infinite"]
    assert agent.notify("good")["deploy_status_code"] == 0, "the good item after the bad ones must still run"
    again = agent.apply(bad_items())
    assert_no_traceback(again)
    assert (again.returncode, again.stdout.strip()) == (0, "nothing new to deploy")


def test_a_name_with_a_lone_surrogate_prints_in_apply_and_status(agent):
    raw = json.dumps({"deployments": [item("odd", "", group="nothing-here", name="odd-\ud800-name")]})
    path = agent.write_document(raw)
    result = agent.run("apply", str(path))
    assert_no_traceback(result)
    assert result.returncode == 1 and "odd-" in result.stdout
    table = agent.run("status")
    assert_no_traceback(table)
    assert table.returncode == 1 and "odd-" in table.stdout
    code, status, _ = agent.status()
    assert code == 1 and status["deployments"][0]["id"] == "odd"


def test_the_daemon_reports_every_bad_item_and_keeps_polling(agent, tmp_path):
    """These four kinds of item put the daemon into a crash loop; now it reports them and stays up."""
    agent.write_hook("infinite", INFINITE_CODE_HOOK)
    with running_daemon(agent, tmp_path / "data", bad_items()) as daemon:
        wait_for(lambda: finished(agent, "good"), timeout=30, what="the good item after the bad ones")
        time.sleep(1)
        assert daemon.poll() is None, "the daemon exited"
        for key in ("bad-inputs", "bad-name", "long-group", "infinite"):
            assert agent.record(key)["ok"] is False
    assert "Traceback" not in daemon.stderr.read()
