"""Issue 2 acceptance: ``stoker apply`` and the hooks, run as real processes.

Every test runs the ``stoker`` console script against metadata in a temporary
directory and looks at what a user or Heat would see: the exit code, the
summary, ``deployed/<id>.notify.json`` (the payload signalled), the journal
and ``stoker status``.
"""
from __future__ import annotations

import json
import re
import socket
import stat
import time

import pytest

from tests.agent_helpers import (Agent, component_item, item, process_alive, script_item,
                                 wait_for)

pytestmark = pytest.mark.contract


@pytest.fixture
def agent(tmp_path):
    return Agent(tmp_path)


def outputs(*names, error=()):
    return [{"name": n, "type": "String", "error_output": n in error} for n in names]


# ------------------------------------------------------------------ inputs and outputs

TYPED_INPUTS = [
    {"name": "text", "type": "String", "value": "hello world"},
    {"name": "whole", "type": "Number", "value": 42},
    {"name": "fraction", "type": "Number", "value": 3.5},
    {"name": "yes", "type": "Boolean", "value": True},
    {"name": "no", "type": "Boolean", "value": False},
    {"name": "nothing", "type": "String", "value": None},
    {"name": "listing", "type": "Json", "value": [1, "a", None]},
    {"name": "mapping", "type": "Json", "value": {"k": "v", "n": 2}},
    {"name": "csv", "type": "CommaDelimitedList", "value": ["a", "b"]},
    {"name": "csv_text", "type": "CommaDelimitedList", "value": "x,y"},
]
TYPED_SCRIPT = """#!/bin/sh
for name in text whole fraction yes no listing mapping csv csv_text deploy_action; do
    eval "printf '%s' \\"\\$$name\\"" > "$heat_outputs_path.$name"
done
printf '%s' "${nothing+set}:${nothing}" > "$heat_outputs_path.nothing"
"""


def test_typed_inputs_reach_the_script_as_text_with_the_documented_coercion(agent):
    names = [i["name"] for i in TYPED_INPUTS] + ["deploy_action"]
    result = agent.apply([script_item("typed", TYPED_SCRIPT, inputs=TYPED_INPUTS, outputs=outputs(*names))])
    assert result.returncode == 0, result.stdout + result.stderr
    got = agent.notify("typed")
    assert got["deploy_status_code"] == 0, got
    assert got["text"] == "hello world"
    assert got["whole"] == "42"
    assert got["fraction"] == "3.5"
    assert got["yes"] == "true" and got["no"] == "false", "booleans must be JSON text"
    assert got["nothing"] == "set:", "a null input must be an empty, but set, variable"
    assert json.loads(got["listing"]) == [1, "a", None]
    assert json.loads(got["mapping"]) == {"k": "v", "n": 2}
    assert json.loads(got["csv"]) == ["a", "b"], "a list value is passed as JSON"
    assert got["csv_text"] == "x,y", "a string value is passed as it is"
    assert got["deploy_action"] == "CREATE"


def test_outputs_written_to_heat_outputs_path_come_back_in_the_notify_file(agent):
    script = ('#!/bin/sh\necho doing\nprintf 42 > "$heat_outputs_path.answer"\n'
              'echo "line 1\nline 2" > "$heat_outputs_path.multi"\n')
    result = agent.apply([script_item("outs", script, outputs=outputs("answer", "multi", "absent"))])
    assert result.returncode == 0, result.stdout + result.stderr
    got = agent.notify("outs")
    assert got == {"deploy_stdout": "doing\n", "deploy_stderr": "", "deploy_status_code": 0,
                   "answer": "42", "multi": "line 1\nline 2\n"}, "a missing output file means an absent output"


def test_an_error_output_that_is_set_fails_the_deployment(agent):
    script = '#!/bin/sh\nprintf "disk full" > "$heat_outputs_path.problem"\n'
    result = agent.apply([script_item("erring", script, outputs=outputs("problem", error=("problem",)))])
    assert result.returncode == 1, "Heat fails a deployment whose error_output is present"
    assert "FAILED" in result.stdout
    assert agent.notify("erring")["problem"] == "disk full"
    record = agent.record("erring")
    assert record["ok"] is False and record["status_code"] == 0
    code, status, _ = agent.status()
    assert code == 1 and status["deployments"][0]["ok"] is False


def test_an_error_output_that_is_not_written_leaves_the_deployment_successful(agent):
    result = agent.apply([script_item("fine", "#!/bin/sh\ntrue\n", outputs=outputs("problem", error=("problem",)))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problem" not in agent.notify("fine")


def test_deployments_run_in_list_order_and_a_later_one_sees_the_earlier_ones_file(agent):
    shared = agent.root / "shared.txt"
    first = script_item("first", f"#!/bin/sh\necho made-by-first > {shared}\necho first >> {agent.root}/order\n",
                        name="z_runs_first")
    second = script_item("second", f"#!/bin/sh\ncat {shared}\necho second >> {agent.root}/order\n",
                         name="a_runs_second")
    result = agent.apply([first, second])
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("second")["deploy_stdout"] == "made-by-first\n"
    assert (agent.root / "order").read_text() == "first\nsecond\n", "the list order, not the name order"


# ------------------------------------------------------------------ components

COMPONENT_CONFIGS = [
    {"actions": ["CREATE", "UPDATE"], "tool": "script",
     "config": "#!/bin/sh\necho \"create-or-update entry ran for $deploy_action\"\n"},
    {"actions": ["DELETE"], "tool": "script", "config": "#!/bin/sh\necho \"delete entry ran\"\n"},
    {"actions": ["SUSPEND"], "tool": "script", "config": "#!/bin/sh\necho \"suspend entry ran\"\n"},
    {"actions": ["RESUME"], "tool": "script", "config": "#!/bin/sh\necho \"resume entry ran\"\n"},
    {"actions": ["REBOOT_CUSTOM"], "tool": "script", "config": "#!/bin/sh\necho \"custom entry ran\"\n"},
]


@pytest.mark.parametrize("action, expected", [
    ("CREATE", "create-or-update entry ran for CREATE\n"),
    ("UPDATE", "create-or-update entry ran for UPDATE\n"),
    ("DELETE", "delete entry ran\n"),
    ("SUSPEND", "suspend entry ran\n"),
    ("RESUME", "resume entry ran\n"),
    ("REBOOT_CUSTOM", "custom entry ran\n"),
])
def test_a_component_runs_the_entry_for_the_items_deploy_action(agent, action, expected):
    result = agent.apply([component_item(f"comp-{action.lower()}", COMPONENT_CONFIGS, action=action)])
    assert result.returncode == 0, result.stdout + result.stderr
    got = agent.notify(f"comp-{action.lower()}")
    assert got["deploy_stdout"] == expected
    assert got["deploy_status_code"] == 0
    record = agent.record(f"comp-{action.lower()}")
    assert (record["group"], record["tool"], record["action"]) == ("component", "script", action)


def test_a_component_with_no_entry_for_the_action_succeeds_saying_there_was_nothing_to_do(agent, tmp_path):
    marker = tmp_path / "ran"
    configs = [{"actions": ["CREATE"], "tool": "script", "config": f"#!/bin/sh\ntouch {marker}\n"}]
    result = agent.apply([component_item("comp-none", configs, action="SUSPEND")])
    assert result.returncode == 0, result.stdout + result.stderr
    got = agent.notify("comp-none")
    assert got["deploy_status_code"] == 0
    assert "nothing to do" in got["deploy_stdout"] and "SUSPEND" in got["deploy_stdout"]
    assert not marker.exists()


@pytest.mark.parametrize("config, words", [
    ({"configs": "not a list"}, "'configs' list"),
    ("#!/bin/sh\necho a string is no component\n", "'configs' list"),
    ({"configs": [{"actions": ["CREATE"], "config": "x"}]}, "needs 'tool'"),
    ({"configs": [{"actions": "CREATE", "tool": "script", "config": "x"}]}, "needs 'actions'"),
    ({"configs": ["just text"]}, "is not an object"),
])
def test_a_malformed_component_config_fails_with_a_reason(agent, config, words):
    result = agent.apply([item("comp-bad", config, group="component")])
    assert result.returncode == 1
    got = agent.notify("comp-bad")
    assert got["deploy_status_code"] != 0
    assert words in got["deploy_stderr"], got["deploy_stderr"]
    assert words in agent.record("comp-bad")["reason"]


def test_a_component_whose_tool_has_no_hook_fails_naming_the_tool(agent):
    configs = [{"actions": ["CREATE"], "tool": "no-such-tool", "config": ""}]
    result = agent.apply([component_item("comp-missing", configs)])
    assert result.returncode == 1
    assert "no hook for group 'no-such-tool'" in agent.notify("comp-missing")["deploy_stderr"]


# ------------------------------------------------------------------ finding the hook

def test_an_unknown_group_fails_naming_the_group_and_the_directories_searched(agent):
    result = agent.apply([item("unknown", "whatever", group="no-such-group")])
    assert result.returncode == 1
    stderr = agent.notify("unknown")["deploy_stderr"]
    assert "no hook for group 'no-such-group'" in stderr
    assert str(agent.hooks) in stderr, "the directories searched must be named"
    assert "/usr/libexec/heat-config/hooks" in stderr
    assert "no-such-group" in agent.record("unknown")["reason"]


def test_a_hook_file_that_is_not_executable_is_reported_as_such(agent):
    agent.write_hook("lazy", "#!/bin/sh\necho '{}'\n", mode=0o644)
    result = agent.apply([item("lazy1", "", group="lazy")])
    assert result.returncode == 1
    stderr = agent.notify("lazy1")["deploy_stderr"]
    assert f"{agent.hooks / 'lazy'} exists but is not executable" in stderr


@pytest.mark.parametrize("group", ["../evil", "../../bin/sh", "/bin/sh", "..", "EVIL_PATH", "hooks/../../evil"])
def test_a_path_traversal_group_never_runs_anything_outside_the_hook_dirs(agent, tmp_path, group):
    marker = tmp_path / "evil-ran"
    evil = f"#!/bin/sh\ntouch {marker}\necho '{{\"deploy_status_code\": 0}}'\n"
    (tmp_path / "evil").write_text(evil)
    (tmp_path / "evil").chmod(0o755)
    if group == "EVIL_PATH":
        group = str(tmp_path / "evil")
    result = agent.apply([item("trav", "true", group=group)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert not marker.exists(), f"group {group!r} ran a program outside the hook directories"
    got = agent.notify("trav")
    assert got["deploy_status_code"] != 0
    assert "no hook" in got["deploy_stderr"]


# ------------------------------------------------------------------ timeouts

SLEEPER = """#!/bin/sh
sleep 30 &
echo $! > {pidfile}
echo started
sleep 30
"""


def _check_timed_out(agent, key, pidfile, seconds):
    got = agent.notify(key)
    assert got["deploy_status_code"] == 124, got
    assert f"timed out: hook script ran longer than the {seconds}s timeout" in got["deploy_stderr"]
    grandchild = int(pidfile.read_text())
    wait_for(lambda: not process_alive(grandchild), timeout=5,
             what=f"the hook's background process {grandchild} to be killed with its process group")
    record = agent.record(key)
    assert record["ok"] is False and record["status_code"] == 124


def test_a_hook_running_past_hook_timeout_is_stopped_with_its_children_and_code_124(agent, tmp_path):
    agent.configure(hook_timeout=1)
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    result = agent.apply([script_item("slow", SLEEPER.format(pidfile=pidfile))])
    assert time.monotonic() - started < 20, "the hook was not stopped at its timeout"
    assert result.returncode == 1
    _check_timed_out(agent, "slow", pidfile, 1)


def test_an_items_options_timeout_overrides_the_agents_hook_timeout(agent, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    result = agent.apply([script_item("slow2", SLEEPER.format(pidfile=pidfile), options={"timeout": 1})])
    assert time.monotonic() - started < 20, "options.timeout was not honoured"
    assert result.returncode == 1
    _check_timed_out(agent, "slow2", pidfile, 1)


# ------------------------------------------------------------------ what a hook prints

def test_a_hook_printing_plain_text_and_exiting_0_succeeds_with_its_raw_stdout(agent):
    agent.write_hook("plain", "#!/bin/sh\ncat > /dev/null\necho not json at all\necho a warning >&2\n")
    assert agent.apply([item("p0", "", group="plain")]).returncode == 0
    assert agent.notify("p0") == {"deploy_stdout": "not json at all\n", "deploy_stderr": "a warning\n",
                                  "deploy_status_code": 0}


def test_a_hook_printing_plain_text_and_exiting_5_fails_with_code_5(agent):
    agent.write_hook("plain5", "#!/bin/sh\ncat > /dev/null\necho broken\nexit 5\n")
    assert agent.apply([item("p5", "", group="plain5")]).returncode == 1
    got = agent.notify("p5")
    assert got["deploy_status_code"] == 5 and got["deploy_stdout"] == "broken\n"


def test_a_hook_printing_nothing_and_exiting_0_fails_with_a_reason(agent):
    agent.write_hook("silent", "#!/bin/sh\ncat > /dev/null\n")
    assert agent.apply([item("s0", "", group="silent")]).returncode == 1
    got = agent.notify("s0")
    assert got["deploy_status_code"] != 0
    assert "printed no result" in got["deploy_stderr"]


def test_a_hook_exiting_3_with_json_claiming_success_fails_with_code_3(agent):
    agent.write_hook("liar", "#!/bin/sh\ncat > /dev/null\n"
                     "echo '{\"deploy_stdout\": \"all good\", \"deploy_stderr\": \"\", \"deploy_status_code\": 0}'\n"
                     "exit 3\n")
    assert agent.apply([item("l3", "", group="liar")]).returncode == 1
    got = agent.notify("l3")
    assert got["deploy_status_code"] == 3
    assert got["deploy_stdout"] == "all good"
    assert "exited with status 3" in got["deploy_stderr"]


def test_a_hook_printing_non_utf8_bytes_is_recorded_with_replacement_characters(agent):
    agent.write_hook("binary", "#!/bin/sh\ncat > /dev/null\nprintf 'caf\\351 \\377\\376 done\\n'\n")
    result = agent.apply([item("bin", "", group="binary")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("bin")["deploy_stdout"] == "caf\ufffd \ufffd\ufffd done\n"


def test_a_script_printing_non_utf8_bytes_does_not_crash_the_script_hook(agent):
    result = agent.apply([script_item("bin2", "#!/bin/sh\nprintf 'ok \\377\\n'\nprintf '\\376 err\\n' >&2\n")])
    assert result.returncode == 0, result.stdout + result.stderr
    got = agent.notify("bin2")
    assert got["deploy_stdout"] == "ok \ufffd\n" and got["deploy_stderr"] == "\ufffd err\n"


def test_a_hook_killed_by_a_signal_fails_naming_the_signal(agent):
    agent.write_hook("doomed", "#!/bin/sh\ncat > /dev/null\necho before\nkill -KILL $$\n")
    assert agent.apply([item("k9", "", group="doomed")]).returncode == 1
    got = agent.notify("k9")
    assert got["deploy_status_code"] == 137
    assert "killed by signal SIGKILL" in got["deploy_stderr"]


def test_a_script_killed_by_a_signal_fails(agent):
    assert agent.apply([script_item("k15", "#!/bin/sh\nkill -TERM $$\n")]).returncode == 1
    got = agent.notify("k15")
    assert got["deploy_status_code"] != 0
    assert "signal 15" in got["deploy_stderr"]


# ------------------------------------------------------------------ the script hook

def test_a_config_without_a_shebang_runs_under_bin_sh(agent):
    result = agent.apply([script_item("nosb", "echo \"no shebang, action $deploy_action\"\nexit 0\n")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("nosb")["deploy_stdout"] == "no shebang, action CREATE\n"


def test_a_script_whose_shebang_names_a_missing_interpreter_fails_with_a_reason(agent):
    result = agent.apply([script_item("badsb", "#!/no/such/interpreter\nprint('hi')\n")])
    assert result.returncode == 1
    got = agent.notify("badsb")
    assert got["deploy_status_code"] == 127
    assert "#! line names /no/such/interpreter" in got["deploy_stderr"], got["deploy_stderr"]


def test_a_failing_script_reports_its_exit_code_and_output(agent):
    assert agent.apply([script_item("fail", "#!/bin/sh\necho out\necho err >&2\nexit 7\n")]).returncode == 1
    got = agent.notify("fail")
    assert got == {"deploy_stdout": "out\n", "deploy_stderr": "err\n", "deploy_status_code": 7}
    assert agent.record("fail")["reason"] == "exit status 7: err", "the reason quotes stderr's last line"


def test_the_script_hook_honours_heat_script_working_and_outputs(agent):
    script = '#!/bin/sh\npwd\nprintf x > "$heat_outputs_path.o"\necho "$heat_outputs_path"\n'
    assert agent.apply([script_item("dirs", script, outputs=outputs("o"))]).returncode == 0
    got = agent.notify("dirs")
    assert got["deploy_stdout"] == f"{agent.working}\n{agent.outputs / 'dirs'}\n"
    assert (agent.working / "dirs").read_text() == script
    assert (agent.outputs / "dirs.o").read_text() == "x"


def test_a_third_party_hook_written_for_upstream_runs_unchanged(agent):
    agent.write_hook("upstreamish", """#!/usr/bin/env python3
import json
import sys

c = json.load(sys.stdin)
greeting = c['options'].get('greeting', 'hello')
inputs = dict((i['name'], i['value']) for i in c['inputs'])
outputs = [o['name'] for o in c['outputs']]
sys.stderr.write('logging to stderr like upstream hooks do\\n')
json.dump({'deploy_stdout': '%s %s (%s, outputs %s)' % (greeting, c['config'], inputs['deploy_action'], outputs),
           'deploy_stderr': '', 'deploy_status_code': 0}, sys.stdout)
""")
    items = [item("up1", "world", group="upstreamish", options=None, outputs=None),
             item("up2", "there", group="upstreamish", options={"greeting": "hi"},
                  outputs=[{"name": "o1"}])]
    result = agent.apply(items)
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("up1")["deploy_stdout"] == "hello world (CREATE, outputs [])"
    assert agent.notify("up2")["deploy_stdout"] == "hi there (CREATE, outputs ['o1'])"


def test_a_large_stdout_is_trimmed_to_fit_heats_signal_limit_keeping_the_tail(agent):
    script = "#!/bin/sh\nyes 'filler line' | head -n 1700000\necho THE-LAST-LINE\n"
    result = agent.apply([script_item("big", script)], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    body = (agent.deployed / "big.notify.json").read_bytes()
    assert len(body) <= 1_000_000
    got = json.loads(body)
    assert got["deploy_stdout"].endswith("filler line\nTHE-LAST-LINE\n")
    note = re.match(r"\[stoker: (\d+) bytes cut above", got["deploy_stdout"])
    assert note, "the trimmed stdout must start with a note of what was cut"
    kept = len(got["deploy_stdout"].split("\n", 1)[1])
    assert int(note.group(1)) + kept == 20_400_014, \
        "the note must count every byte cut, by the hook and by the agent"


# ------------------------------------------------------------------ run once, rerun

def _snapshot(*dirs):
    files = {}
    for directory in dirs:
        for path in directory.rglob("*"):
            if path.is_file():
                st = path.stat()
                files[path] = (st.st_mtime_ns, st.st_ino, path.read_bytes())
    return files


def test_a_second_apply_of_the_same_document_runs_nothing_and_touches_no_file(agent, tmp_path):
    runs = tmp_path / "runs"
    items = [script_item("once-a", f"#!/bin/sh\necho a >> {runs}\n"),
             component_item("once-b", [{"actions": ["CREATE"], "tool": "script",
                                        "config": f"#!/bin/sh\necho b >> {runs}\n"}]),
             item("once-c", "", group="no-such-group")]
    first = agent.apply(items)
    assert first.returncode == 1  # once-c fails
    assert runs.read_text() == "a\nb\n"
    before = _snapshot(agent.state / "journal", agent.deployed, agent.working)
    time.sleep(0.05)
    second = agent.apply(items)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nothing new to deploy" in second.stdout
    assert runs.read_text() == "a\nb\n", "a finished deployment ran again"
    assert _snapshot(agent.state / "journal", agent.deployed, agent.working) == before


def test_rerun_makes_the_next_apply_run_that_deployment_again_and_only_that_one(agent, tmp_path):
    runs = tmp_path / "runs"
    items = [script_item(ident, f"#!/bin/sh\necho {ident} >> {runs}\n") for ident in ("r1", "r2", "r3")]
    assert agent.apply(items).returncode == 0
    rerun = agent.rerun("r2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "r2" in rerun.stdout
    again = agent.apply(items)
    assert again.returncode == 0, again.stdout + again.stderr
    assert runs.read_text() == "r1\nr2\nr3\nr2\n"
    assert agent.apply(items).stdout.strip() == "nothing new to deploy"


def test_rerun_by_deployment_name_and_of_an_unknown_id(agent, tmp_path):
    runs = tmp_path / "runs"
    assert agent.apply([script_item("n1", f"#!/bin/sh\necho n1 >> {runs}\n", name="10_named")]).returncode == 0
    assert agent.rerun("10_named").returncode == 0
    assert agent.apply([script_item("n1", f"#!/bin/sh\necho n1 >> {runs}\n", name="10_named")]).returncode == 0
    assert runs.read_text() == "n1\nn1\n"
    unknown = agent.rerun("no-such-deployment")
    assert unknown.returncode == 2 and "no-such-deployment" in unknown.stderr


def test_the_script_file_is_replaced_not_appended_when_rewritten(agent):
    long_script = "#!/bin/sh\n# " + "x" * 500 + "\necho long\n"
    assert agent.apply([script_item("rw", long_script)]).returncode == 0
    script = agent.working / "rw"
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    inode = script.stat().st_ino
    assert agent.rerun("rw").returncode == 0
    assert agent.apply([script_item("rw", "#!/bin/sh\necho short\n")]).returncode == 0
    assert script.read_text() == "#!/bin/sh\necho short\n", "stale bytes of the old script were left"
    assert script.stat().st_ino != inode, "the script must be replaced atomically (new file, rename)"
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    assert agent.notify("rw")["deploy_stdout"] == "short\n"


# ------------------------------------------------------------------ files on disk

def test_state_files_are_private(agent):
    assert agent.apply([script_item("files", "#!/bin/sh\necho hi\n")]).returncode == 0
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(agent.state) == 0o700
    assert mode(agent.state / "journal") == 0o700
    assert mode(agent.deployed / "files.json") == 0o600
    assert mode(agent.deployed / "files.notify.json") == 0o600
    assert mode(agent.state / "journal" / "files.json") == 0o600
    assert json.loads((agent.deployed / "files.json").read_text())["id"] == "files", \
        "deployed/<id>.json holds the item as Heat sent it"
    leftovers = [p.name for p in agent.deployed.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers


# ------------------------------------------------------------------ the document

def test_a_bare_deployments_list_is_accepted(agent):
    result = agent.apply([script_item("bare", "#!/bin/sh\necho bare\n")], bare=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("bare")["deploy_stdout"] == "bare\n"


def test_a_document_on_stdin_is_accepted(agent):
    doc = json.dumps({"deployments": [script_item("stdin", "#!/bin/sh\necho from stdin\n")]}).encode()
    result = agent.run("apply", "-", stdin=doc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("stdin")["deploy_stdout"] == "from stdin\n"


@pytest.mark.parametrize("text, words", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ('"a string"', "must be a JSON object or list"),
    ('{"deployments": {"id": "x"}}', "'deployments' must be a list"),
])
def test_an_unusable_document_exits_2_with_a_clear_message(agent, text, words):
    result = agent.apply(text)
    assert result.returncode == 2
    assert "cannot apply" in result.stderr and words in result.stderr, result.stderr
    assert not agent.deployed.exists() or not list(agent.deployed.iterdir())


def test_a_missing_metadata_file_exits_2(agent, tmp_path):
    result = agent.run("apply", str(tmp_path / "absent.json"))
    assert result.returncode == 2 and "absent.json" in result.stderr


def test_null_options_null_outputs_and_unknown_keys_are_fine(agent):
    value = script_item("loose", "#!/bin/sh\necho loose\n", options=None, outputs=None)
    value["some_future_key"] = {"nested": [1, 2]}
    value["inputs"].append({"name": "extra", "value": "v", "type": "String", "description": None,
                            "replace_on_change": False, "future": True})
    doc = {"deployments": [value], "os-collect-config": {"cfn": None, "heat": {"password": None}},
           "other": "user metadata"}
    result = agent.apply(doc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.notify("loose")["deploy_stdout"] == "loose\n"


def test_empty_and_missing_deployments_apply_nothing(agent):
    for doc in ({}, {"deployments": None}, {"deployments": []}, "[]"):
        result = agent.apply(doc)
        assert (result.returncode, result.stdout.strip()) == (0, "nothing new to deploy"), doc


def test_an_item_without_an_id_is_recorded_as_a_failure_instead_of_crashing(agent, tmp_path):
    marker = tmp_path / "ran"
    no_id = script_item("x", f"#!/bin/sh\ntouch {marker}\n", name="nameless-id")
    del no_id["id"]
    good = script_item("after", "#!/bin/sh\necho still runs\n")
    result = agent.apply([no_id, "not an object", good])
    assert result.returncode == 1, result.stdout + result.stderr
    assert not marker.exists(), "an item without an id must not run"
    assert agent.notify("after")["deploy_stdout"] == "still runs\n", "later items still run"
    failed = [r for r in agent.records() if r["name"] == "nameless-id"]
    assert len(failed) == 1 and failed[0]["ok"] is False
    assert "no id" in failed[0]["reason"]
    assert "no id" in agent.notify(failed[0]["key"])["deploy_stderr"]
    assert "not an object" in result.stderr, "an entry that is not an object is logged"


def test_an_item_with_malformed_inputs_fails_with_a_reason(agent):
    bad = script_item("badinputs", "#!/bin/sh\necho no\n")
    bad["inputs"] = "not a list"
    assert agent.apply([bad]).returncode == 1
    assert "inputs must be a list" in agent.notify("badinputs")["deploy_stderr"]


# ------------------------------------------------------------------ status

def test_status_json_lists_each_deployment_with_its_fields_and_exit_code(agent):
    code, status, _ = agent.status()
    assert code == 0 and status["deployments"] == [], "no state yet: nothing known, exit 0"
    items = [script_item("s-ok", "#!/bin/sh\necho fine\n", name="10_ok"),
             component_item("s-comp", [{"actions": ["UPDATE"], "tool": "script", "config": "exit 0"}],
                            action="UPDATE", name="20_comp")]
    assert agent.apply(items).returncode == 0
    code, status, _ = agent.status()
    assert code == 0
    rows = {r["id"]: r for r in status["deployments"]}
    ok = rows["s-ok"]
    assert (ok["name"], ok["group"], ok["tool"], ok["action"], ok["state"], ok["status_code"], ok["ok"]) == \
        ("10_ok", "script", "script", "CREATE", "finished", 0, True)
    for key in ("seen_at", "started_at", "finished_at"):
        assert ok[key].endswith("Z") and ok[key][:4].isdigit(), (key, ok[key])
    assert isinstance(ok["duration"], float) and ok["duration"] >= 0
    assert ok["signal"]["transport"] == "NO_SIGNAL" and ok["signal"]["state"] == "none"
    comp = rows["s-comp"]
    assert (comp["group"], comp["tool"], comp["action"]) == ("component", "script", "UPDATE")
    assert status["summary"] == {"deployments": 2, "failed": 0, "running": 0, "signals_pending": 0,
                                 "signals_failed": 0, "quarantined": 0, "exit_code": 0}
    assert status["schema_version"] == 1 and status["agent"] == {"running": False, "polling": None}
    assert status["quarantined"] == []

    assert agent.apply([script_item("s-bad", "#!/bin/sh\nexit 4\n", name="30_bad")]).returncode == 1
    code, status, _ = agent.status()
    assert code == 1, "a failed deployment makes status exit 1"
    bad = [r for r in status["deployments"] if r["id"] == "s-bad"][0]
    assert (bad["ok"], bad["status_code"], bad["reason"]) == (False, 4, "exit status 4")
    assert status["summary"]["failed"] == 1 and status["summary"]["exit_code"] == 1

    table = agent.run("status")
    assert table.returncode == 1
    assert "10_ok" in table.stdout and "FAILED" in table.stdout and "exit status 4" in table.stdout


SECRET_PASSWORD = "hunter2-Very-Secret-pw"
SIGNATURE = "c2lnbmF0dXJlLXNlY3JldA%3D%3D"
ACCESS_KEY = "AKIDSECRETACCESS0001"


def test_status_and_logs_show_nothing_secret_and_the_signal_state(agent):
    with socket.socket() as closed:  # bound but not listening: connections are refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = (f"http://127.0.0.1:{port}/v1/signal/arn%3Aopenstack%3Aheat%3A%3Aabc%3Astacks/s/1/resources/dep"
               f"?Timestamp=2024-01-01T00%3A00%3A00Z&SignatureMethod=HmacSHA256&AWSAccessKeyId={ACCESS_KEY}"
               f"&SignatureVersion=2&Signature={SIGNATURE}")
        # A hook's stderr line starting "stoker: " becomes the status reason: the worst place for a leak.
        secret_item = script_item(
            "secret", "#!/bin/sh\necho \"stoker: the password is $deploy_password, the URL $deploy_signal_id\" >&2\n"
                      "exit 3\n",
            name="with-secrets", transport="CFN_SIGNAL",
            inputs=[{"name": "deploy_password", "value": SECRET_PASSWORD},
                    {"name": "deploy_signal_id", "value": url},
                    {"name": "deploy_signal_verb", "value": "POST"},
                    {"name": "db_password", "value": SECRET_PASSWORD + "-db"}])
        result = agent.apply([secret_item], "--signal-wait", "1", "--log-level", "debug")
        assert result.returncode == 1
        code, status, raw = agent.status()
        table = agent.run("status")
    row = status["deployments"][0]
    assert row["signal"]["transport"] == "CFN_SIGNAL"
    assert row["signal"]["state"] == "pending", "a refused connection is retried later"
    assert row["signal"]["attempts"] >= 1 and row["signal"]["last_error"]
    assert status["summary"]["signals_pending"] == 1
    for text, where in ((raw, "status --json"), (table.stdout + table.stderr, "status"),
                        (result.stdout + result.stderr, "apply's output and log")):
        for secret in (SECRET_PASSWORD, SIGNATURE, ACCESS_KEY, "c2lnbmF0dXJl"):
            assert secret not in text, f"{where} shows the secret {secret!r}:\n{text}"


def test_status_exits_3_while_a_signal_is_still_pending(agent):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1/signal/x?Signature=abc"
        pending = script_item("pend", "#!/bin/sh\necho ok\n", transport="CFN_SIGNAL",
                              inputs=[{"name": "deploy_signal_id", "value": url},
                                      {"name": "deploy_signal_verb", "value": "POST"}])
        result = agent.apply([pending], "--signal-wait", "0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not delivered yet" in result.stdout
    code, status, _ = agent.status()
    assert code == 3 and status["summary"]["signals_pending"] == 1


def test_status_before_any_apply_says_nothing_is_known(agent):
    result = agent.run("status")
    assert result.returncode == 0 and "no deployments known" in result.stdout


# ------------------------------------------------------------------ a running agent holds the state

def test_a_second_agent_on_the_same_state_dir_is_refused_while_the_first_runs(agent, tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    hold = (f"#!/bin/sh\ntouch {started}\n"
            f"for i in $(seq 300); do [ -e {release} ] && exit 0; sleep 0.05; done\nexit 9\n")
    proc = agent.start_apply([script_item("hold", hold)])
    try:
        wait_for(started.exists, timeout=15, what="the first agent's hook to start")
        second = agent.apply([script_item("other", "#!/bin/sh\necho other\n")])
        assert second.returncode == 5, second.stdout + second.stderr
        assert "another stoker" in second.stderr
    finally:
        release.touch()
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert not (agent.deployed / "other.notify.json").exists()
