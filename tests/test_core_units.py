"""Unit tests for the agent core's pure functions: payload, plan, metadata, redaction, status."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from stoker import payload, plan, redaction, status
from stoker.deployer import Deployer, failure_reason
from stoker.journal import FINISHED, RUNNING, Record, SignalState, process_running, process_start_time
from stoker.metadata import MetadataError, load_document, parse_document, parse_item
from stoker.runner import HookOutcome

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hooks"))
import hookkit  # noqa: E402


# ------------------------------------------------------------------ payload.fit

def test_fit_trims_a_20mb_stdout_to_a_body_under_the_limit_keeping_the_last_lines():
    stdout = "".join(f"line {i}\n" for i in range(2_000_000)) + "the error is at the end\n"
    assert len(stdout) > 20_000_000
    fitted = payload.fit(payload.make(stdout, "warning: something\n", 2))
    body = json.dumps(fitted).encode()
    assert len(body) <= 1_000_000
    assert fitted["deploy_stdout"].endswith("line 1999999\nthe error is at the end\n")
    first_line = fitted["deploy_stdout"].split("\n", 1)[0]
    cut = len(stdout.encode()) - len(fitted["deploy_stdout"].split("\n", 1)[1].encode())
    assert first_line == f"[stoker: {cut} bytes cut above to fit Heat's signal size limit]", \
        "the note must say exactly how many bytes were cut"
    assert fitted["deploy_stderr"] == "warning: something\n", "a small stderr is kept whole"
    assert fitted["deploy_status_code"] == 2


def test_fit_adds_an_earlier_cut_to_its_note():
    text = "[stoker: 5000000 bytes cut above]\n" + "z" * 2_000_000
    fitted = payload.fit(payload.make(text, "", 0))
    note, kept = fitted["deploy_stdout"].split("\n", 1)
    assert note == f"[stoker: {5_000_000 + 2_000_000 - len(kept)} bytes cut above to fit Heat's signal size limit]"
    assert kept == "z" * len(kept)


def test_fit_shares_the_space_when_stdout_and_stderr_are_both_huge():
    fitted = payload.fit(payload.make("o" * 3_000_000 + "OUT-END", "e" * 3_000_000 + "ERR-END", 1))
    assert len(json.dumps(fitted).encode()) <= 1_000_000
    assert fitted["deploy_stdout"].endswith("OUT-END") and fitted["deploy_stderr"].endswith("ERR-END")
    assert len(fitted["deploy_stdout"]) > 400_000 and len(fitted["deploy_stderr"]) > 400_000


def test_fit_counts_json_escapes_and_multibyte_text():
    text = "é\"\\\n" * 400_000
    fitted = payload.fit(payload.make(text, "", 0))
    assert len(json.dumps(fitted).encode()) <= 1_000_000
    assert fitted["deploy_stdout"].endswith("é\"\\\n")


def test_fit_leaves_a_small_payload_alone():
    small = payload.make("out", "err", 0, result="value")
    assert payload.fit(small) == small


def test_fit_replaces_an_oversized_output_by_an_error_and_fails_the_deployment():
    fitted = payload.fit(payload.make("fine", "", 0, huge="x" * 2_000_000, small="kept"))
    assert len(json.dumps(fitted).encode()) <= 1_000_000
    assert fitted["small"] == "kept"
    assert fitted["huge"].startswith("stoker: output 'huge' was") and "too large" in fitted["huge"]
    assert fitted["deploy_status_code"] == 1
    assert fitted["deploy_stderr"] == \
        "stoker: output 'huge' (2000002 bytes) was too large to send and was replaced by an error\n"
    assert not payload.is_success(fitted)
    assert failure_reason(fitted).startswith("output 'huge'")


def test_fit_keeps_a_failing_status_code_when_replacing_an_output():
    fitted = payload.fit(payload.make("", "boom", 7, huge="y" * 2_000_000))
    assert fitted["deploy_status_code"] == 7
    assert fitted["deploy_stderr"].startswith("boom\nstoker: output 'huge'")


# ------------------------------------------------------------------ payload.from_hook

def outcome(stdout=b"", stderr=b"", code=0, **kwargs):
    return HookOutcome(returncode=code, stdout=stdout, stderr=stderr, **kwargs)


def answer(**values):
    return json.dumps(values).encode()


def test_from_hook_uses_a_valid_answer_as_it_is():
    got = payload.from_hook(outcome(answer(deploy_stdout="o", deploy_stderr="e", deploy_status_code=0, out1="v")),
                            "script")
    assert got == {"deploy_stdout": "o", "deploy_stderr": "e", "deploy_status_code": 0, "out1": "v"}


def test_from_hook_a_nonzero_exit_overrides_an_answer_claiming_success():
    got = payload.from_hook(outcome(answer(deploy_stdout="o", deploy_status_code=0), code=3), "liar")
    assert got["deploy_status_code"] == 3
    assert got["deploy_stderr"] == "stoker: hook liar exited with status 3 although its answer said 0\n"


def test_from_hook_keeps_the_answers_own_failure_code_whatever_the_exit():
    assert payload.from_hook(outcome(answer(deploy_status_code=6)), "h")["deploy_status_code"] == 6
    assert payload.from_hook(outcome(answer(deploy_status_code=6), code=1), "h")["deploy_status_code"] == 6
    assert payload.from_hook(outcome(answer(deploy_status_code="2")), "h")["deploy_status_code"] == 2


def test_from_hook_normalises_missing_and_odd_fields():
    got = payload.from_hook(outcome(answer(deploy_stdout=None, deploy_stderr={"a": 1}, deploy_status_code="0")), "h")
    assert got == {"deploy_stdout": "", "deploy_stderr": '{"a": 1}', "deploy_status_code": 0}
    assert payload.from_hook(outcome(b"{}"), "h") == {"deploy_stdout": "", "deploy_stderr": "",
                                                     "deploy_status_code": 0}


def test_from_hook_plain_text_exit_0_is_a_success_with_the_raw_output():
    assert payload.from_hook(outcome(b"hello\n", b"warn\n"), "h") == payload.make("hello\n", "warn\n", 0)


def test_from_hook_plain_text_nonzero_exit_is_a_failure_with_that_code():
    assert payload.from_hook(outcome(b"hello\n", b"", 5), "h") == payload.make("hello\n", "", 5)


def test_from_hook_a_json_value_that_is_not_an_object_fails_saying_so():
    got = payload.from_hook(outcome(b"[1, 2]\n"), "h")
    assert got["deploy_status_code"] == 1 and got["deploy_stdout"] == "[1, 2]\n"
    assert "stoker: hook h answered with a JSON list, not an object" in got["deploy_stderr"]


def test_from_hook_text_that_is_not_json_is_kept_as_stdout():
    assert payload.from_hook(outcome(b"hello\n"), "h") == payload.make("hello\n", "", 0)


@pytest.mark.parametrize("answer, words", [
    (b'{"deploy_status_code": Infinity}', "Infinity, which is not a JSON number"),
    (b'{"deploy_status_code": NaN}', "NaN, which is not a JSON number"),
    (b'{"deploy_status_code": 1e400}', "1e400, which is not a JSON number"),
    (b'{"deploy_status_code": "oops"}', "'oops' is not a number"),
    (b'{"deploy_status_code": [0]}', "deploy_status_code is a list"),
    (b'{"deploy_status_code": 99999999999999999999}', "out of range"),
    (b'{"deploy_status_code": 2.5}', "2.5 is not an integer"),
    (b'{"deploy_status_code": true}', "is true, not an integer"),
])
def test_from_hook_an_unusable_status_code_is_a_failure_with_a_reason(answer, words):
    got = payload.from_hook(outcome(answer), "h")
    assert got["deploy_status_code"] == 1, got
    assert words in got["deploy_stderr"]


def test_from_hook_an_answer_nested_too_deeply_is_a_failure_not_a_crash():
    got = payload.from_hook(outcome(b'{"a": ' + b"[" * 50000 + b"]" * 50000 + b"}"), "h")
    assert got["deploy_status_code"] == 1 and "nested too deeply" in got["deploy_stderr"]


def test_from_hook_a_hook_killed_by_a_signal_under_the_wrapper_says_which():
    got = payload.from_hook(outcome(b"", b"", 128 + 9), "h")
    assert got["deploy_status_code"] == 137 and "killed by signal SIGKILL (9)" in got["deploy_stderr"]


def test_from_hook_empty_output_with_exit_0_is_a_failure_saying_the_tool_did_not_run():
    got = payload.from_hook(outcome(b"  \n", b"some stderr\n"), "puppet")
    assert got["deploy_status_code"] == 1
    assert got["deploy_stderr"].startswith("some stderr\nstoker: hook puppet exited 0 but printed no result")


def test_from_hook_empty_output_with_a_failing_exit_keeps_the_code():
    got = payload.from_hook(outcome(b"", b"", 4), "h")
    assert got["deploy_status_code"] == 4 and "exited with status 4" in got["deploy_stderr"]


def test_from_hook_a_timeout_is_code_124_and_names_the_timeout():
    got = payload.from_hook(outcome(b"partial", b"", -15, timed_out=True, timeout=2.5), "script")
    assert got["deploy_status_code"] == 124
    assert "timed out: hook script ran longer than the 2.5s timeout and was stopped" in got["deploy_stderr"]
    assert got["deploy_stdout"] == "partial"


def test_from_hook_a_hook_killed_by_a_signal_is_128_plus_the_signal():
    got = payload.from_hook(outcome(b"", b"", -9), "h")
    assert got["deploy_status_code"] == 137 and "killed by signal SIGKILL (9)" in got["deploy_stderr"]


def test_from_hook_a_hook_that_cannot_start_is_126_with_the_reason():
    got = payload.from_hook(HookOutcome(start_error="Exec format error"), "broken")
    assert got["deploy_status_code"] == 126 and "cannot run hook broken: Exec format error" in got["deploy_stderr"]


def test_from_hook_non_utf8_bytes_become_replacement_characters():
    got = payload.from_hook(outcome(b"caf\xe9 \xff\n", b"\xfe"), "h")
    assert got == payload.make("caf\ufffd \ufffd\n", "\ufffd", 0)


def test_from_hook_an_answer_cut_for_size_is_not_trusted_as_json():
    got = payload.from_hook(outcome(answer(deploy_status_code=0), stdout_cut=10), "h")
    assert got["deploy_stdout"].startswith("[stoker: 10 bytes cut above]\n")


@pytest.mark.parametrize("code, expected", [(None, 0), (0, 0), ("0", 0), ("", 0), (False, 0),
                                            (3, 3), ("3", 3), ("bad", 1), (True, 1)])
def test_status_code_judges_like_heat(code, expected):
    assert payload.status_code({"deploy_status_code": code}) == expected


def test_is_success_fails_on_a_present_error_output_only():
    outs = [{"name": "err", "error_output": True}, {"name": "plain"}]
    assert payload.is_success(payload.make(plain="x"), outs)
    assert not payload.is_success(payload.make(err=""), outs), "present, even empty, means failed"
    assert not payload.is_success(payload.make(code=1), outs)


# ------------------------------------------------------------------ plan

@pytest.mark.parametrize("group, name", [
    ("script", "script"), ("chef-solo", "chef-solo"), ("my_hook2", "my_hook2"),
    ("../../bin/sh", "binsh"), ("/bin/sh", "binsh"), ("..", ""), ("a/../b", "ab"),
    ("Heat::Ungrouped", "HeatUngrouped"), ("scr\u00efpt", "scrpt"), ("sh;rm -rf /", "shrm-rf"),
    ("x\x00y", "xy"), ("", ""),
])
def test_hook_name_keeps_only_safe_characters(group, name):
    assert plan.hook_name(group) == name


def make_hook(directory: Path, name: str, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_hook_finder_takes_the_first_executable_match(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    make_hook(first, "lazy", 0o644)
    make_hook(second, "lazy")
    winner = make_hook(first, "script")
    make_hook(second, "script")
    finder = plan.HookFinder([first, second])
    assert finder.find("script") == winner
    assert finder.find("lazy") == second / "lazy", "a non-executable file does not hide a later hook"
    assert finder.find("..") is None and finder.find("") is None
    assert finder.find("../a/script") is None, "a path is never followed: it names the hook 'ascript'"


def test_hook_finder_explains_why_nothing_runs(tmp_path):
    make_hook(tmp_path, "lazy", 0o644)
    finder = plan.HookFinder([tmp_path, Path("/nonexistent/hooks")])
    assert finder.explain_missing("nope") == \
        f"no hook for group 'nope': no executable named 'nope' in {tmp_path}, /nonexistent/hooks"
    assert finder.explain_missing("lazy") == f"no hook for group 'lazy': {tmp_path / 'lazy'} exists but is not executable"
    assert "needs letters, digits" in finder.explain_missing("..")


def doc_item(ident, group="script", action="CREATE", config="", **extra):
    return {"id": ident, "name": ident, "group": group, "config": config,
            "inputs": [{"name": "deploy_action", "value": action}], **extra}


def test_plan_skips_known_ids_and_repeats_of_an_id_and_keeps_list_order(tmp_path):
    make_hook(tmp_path, "script")
    document = parse_document([doc_item("c"), doc_item("a"), doc_item("known"), doc_item("c"), doc_item("b")])
    work = plan.plan(document, {"known"}, plan.HookFinder([tmp_path]))
    assert [w.item.id for w in work] == ["c", "a", "b"]
    assert all(w.hook == tmp_path / "script" and w.verdict is None for w in work)


def test_plan_expands_a_component_into_the_entry_for_its_action(tmp_path):
    make_hook(tmp_path, "script")
    make_hook(tmp_path, "puppet")
    configs = {"configs": [{"actions": ["CREATE", "UPDATE"], "tool": "script", "config": "A"},
                           {"actions": ["DELETE"], "tool": "puppet", "config": "B"}]}
    finder = plan.HookFinder([tmp_path])
    for action, tool, config in (("UPDATE", "script", "A"), ("DELETE", "puppet", "B")):
        (work,) = plan.plan(parse_document([doc_item("x", "component", action, configs)]), (), finder)
        assert (work.tool, work.hook, work.stdin["group"], work.stdin["config"]) == \
            (tool, tmp_path / tool, tool, config)
        assert work.stdin["options"] == {} and work.stdin["outputs"] == []
    (work,) = plan.plan(parse_document([doc_item("x", "component", "SUSPEND", configs)]), (), finder)
    assert work.hook is None and payload.is_success(work.verdict)
    assert work.verdict["deploy_stdout"] == "stoker: component x has no config for action SUSPEND: nothing to do\n"


def test_plan_turns_problems_into_failure_verdicts(tmp_path):
    finder = plan.HookFinder([tmp_path])
    items = [doc_item("unknown", "nope"), doc_item("badcomp", "component", config={"configs": None}),
             {"name": "noid", "group": "script"}]
    verdicts = {w.item.name: w.verdict for w in plan.plan(parse_document(items), (), finder)}
    assert all(v is not None and payload.status_code(v) == 1 for v in verdicts.values())
    assert "no hook for group 'nope'" in verdicts["unknown"]["deploy_stderr"]
    assert "'configs' list" in verdicts["badcomp"]["deploy_stderr"]
    assert "invalid deployment noid: the item has no id" in verdicts["noid"]["deploy_stderr"]


# ------------------------------------------------------------------ metadata

def test_parse_document_accepts_a_whole_object_or_a_bare_list():
    whole = parse_document({"deployments": [doc_item("a")], "os-collect-config": {"collectors": ["cfn"]},
                            "other": 1})
    bare = parse_document([doc_item("a")])
    assert [i.id for i in whole.items] == [i.id for i in bare.items] == ["a"]
    assert whole.collect_settings == {"collectors": ["cfn"]} and bare.collect_settings is None


@pytest.mark.parametrize("value", [{}, {"deployments": None}, {"deployments": []}, [], {"os-collect-config": None}])
def test_parse_document_with_no_deployments_is_empty(value):
    assert parse_document(value).items == []


@pytest.mark.parametrize("value, words", [("text", "must be a JSON object or list"), (3, "not int"),
                                          (None, "not NoneType"), ({"deployments": "x"}, "must be a list")])
def test_parse_document_rejects_unusable_documents(value, words):
    with pytest.raises(MetadataError, match=words):
        parse_document(value)


def test_load_document_rejects_text_that_is_not_json():
    with pytest.raises(MetadataError, match="not valid JSON"):
        load_document(b"{oops")
    with pytest.raises(MetadataError, match="not valid JSON"):
        load_document(b"\xff\xfe")


def test_parse_document_keeps_entries_that_are_not_objects_as_ignored_notes():
    document = parse_document([doc_item("a"), "text", 3, None])
    assert [i.id for i in document.items] == ["a"]
    assert document.ignored == ["deployments[1] is a str, not an object", "deployments[2] is a int, not an object",
                                "deployments[3] is a NoneType, not an object"]


def test_parse_item_tolerates_nulls_unknown_keys_and_any_input_value():
    item = parse_item({"id": "x", "name": "n", "group": "script", "options": None, "outputs": None,
                       "future": {"a": 1}, "inputs": [{"name": "a", "value": None}, {"name": "b", "value": [1]},
                                                      {"name": "c", "value": {"k": True}, "type": "Json"},
                                                      {"name": "d", "future": 1}]})
    assert item.problem is None
    assert item.inputs == {"a": None, "b": [1], "c": {"k": True}, "d": None}
    assert item.outputs == [] and item.action == "CREATE"
    hook_view = item.for_hook()
    assert hook_view["options"] == {} and hook_view["outputs"] == [] and hook_view["future"] == {"a": 1}


def test_parse_item_defaults_the_group_and_reads_the_action():
    item = parse_item({"id": "x", "inputs": [{"name": "deploy_action", "value": "DELETE"}]})
    assert (item.group, item.action, item.label) == ("Heat::Ungrouped", "DELETE", "x")


@pytest.mark.parametrize("raw, words", [
    ({"name": "n"}, "the item has no id"),
    ({"id": ""}, "the item has no id"),
    ({"id": 42}, "the item has no id"),
    ({"id": "x", "inputs": {"a": 1}}, "inputs must be a list"),
    ({"id": "x", "inputs": [{"value": 1}]}, "inputs[0] is malformed"),
    ({"id": "x", "outputs": "o"}, "outputs must be a list or null"),
    ({"id": "x", "outputs": [{"type": "String"}]}, "an output is malformed"),
    ({"id": "x", "options": ["a"]}, "options must be an object or null"),
    ({"id": "x", "group": 7}, "group must be a string"),
])
def test_parse_item_records_what_is_wrong_instead_of_raising(raw, words):
    assert words in parse_item(raw).problem


def test_item_keys_are_safe_file_names():
    assert parse_item({"id": "0a1b-2c3d_4.5:6"}).key == "0a1b-2c3d_4.5:6"
    for unsafe in ("../../etc/passwd", "a/b", ".hidden", "x" * 200, "id with spaces"):
        key = parse_item({"id": unsafe}).key
        assert key.startswith("h-") and "/" not in key and len(key) == 42, unsafe
    assert parse_item({"id": "a/b"}).key != parse_item({"id": "a/c"}).key
    assert parse_item({"name": "one"}).key == parse_item({"name": "one"}).key, "an id-less item has a stable key"


# ------------------------------------------------------------------ redaction

@pytest.mark.parametrize("text, secret", [
    ("POST http://h:8000/v1/signal/arn?Timestamp=1&AWSAccessKeyId=AKID123&Signature=c2ln%3D", "c2ln%3D"),
    ("POST http://h:8000/v1/signal/arn?Timestamp=1&AWSAccessKeyId=AKID123&Signature=c2ln%3D", "AKID123"),
    ("PUT https://swift/v1/AUTH_a/c/o?temp_url_sig=deadbeef99&temp_url_expires=1", "deadbeef99"),
    ("GET https://swift/v1/AUTH_a/c/o?TEMP_URL_SIG=cafebabe77", "cafebabe77"),
    ('{"deploy_password": "pw-in-json", "x": 1}', "pw-in-json"),
    ('{"secret_access_key": "sak-value"}', "sak-value"),
    ('{"auth": {"token": "tok-value"}}', "tok-value"),
    ("X-Auth-Token: gAAAAAtokenvalue", "gAAAAAtokenvalue"),
])
def test_redact_masks_signed_parameters_and_secret_fields(text, secret):
    cleaned = redaction.redact(text)
    assert secret not in cleaned and redaction.MASK in cleaned, cleaned


def test_redact_keeps_what_is_not_secret():
    text = "GET http://h:8000/v1/?Action=DescribeStackResource&StackName=teststack&SignatureVersion=2"
    assert redaction.redact(text) == text
    assert redaction.redact('{"name": "deploy_action", "value": "CREATE"}') == \
        '{"name": "deploy_action", "value": "CREATE"}'


def test_redact_masks_remembered_secrets_wherever_they_appear():
    redaction.remember_secret_fields([{"name": "db_password", "value": "Remembered-Unit-Pw"},
                                      {"name": "deploy_signal_id", "value": "http://x/?a=RememberedUrl"},
                                      {"name": "harmless", "value": "not-a-secret-value"}])
    text = "echo Remembered-Unit-Pw; curl http://x/?a=RememberedUrl; echo not-a-secret-value"
    cleaned = redaction.redact(text)
    assert "Remembered-Unit-Pw" not in cleaned and "RememberedUrl" not in cleaned
    assert "not-a-secret-value" in cleaned


def test_redact_value_masks_secret_named_keys_in_structures():
    value = {"deploy_password": "p1", "nested": [{"api_token": "t1", "name": "ok"}],
             "url": "http://h/?Signature=s1", "count": 3}
    assert redaction.redact_value(value) == {"deploy_password": "***", "nested": [{"api_token": "***", "name": "ok"}],
                                             "url": "http://h/?Signature=***", "count": 3}


def test_redact_url_masks_user_info():
    assert redaction.redact_url("https://user:pw@host/path?sig=abc") == "https://***@host/path?sig=***"


# ------------------------------------------------------------------ status and deployer helpers

def record(state=FINISHED, ok=True, signal="none"):
    return Record(key="k", id="k", name="n", group="script", action="CREATE", state=state, ok=ok,
                  signal=SignalState(state=signal))


def test_status_exit_code_precedence():
    assert status.exit_code([]) == status.OK
    assert status.exit_code([record()]) == status.OK
    assert status.exit_code([record(signal="delivered")]) == status.OK
    assert status.exit_code([record(signal="pending")]) == status.PENDING
    assert status.exit_code([record(state=RUNNING, ok=None)]) == status.PENDING
    assert status.exit_code([record(signal="failed"), record(signal="pending")]) == status.UNDELIVERABLE
    assert status.exit_code([record(ok=False), record(signal="failed")]) == status.FAILED


def test_status_json_redacts_reasons_and_errors():
    bad = record(ok=False, signal="failed")
    bad.reason = "POST http://h/?Signature=leakme failed"
    bad.signal.last_error = '{"password": "leaktoo"}'
    text = status.as_json([bad]) + status.as_table([bad])
    assert "leakme" not in text and "leaktoo" not in text


@pytest.mark.parametrize("options, expected", [
    (None, 3600.0), ({}, 3600.0), ({"timeout": 5}, 5.0), ({"timeout": 0.5}, 0.5), ({"timeout": 0}, 3600.0),
    ({"timeout": -1}, 3600.0), ({"timeout": "5"}, 3600.0), ({"timeout": True}, 3600.0),
])
def test_timeout_for_uses_a_positive_numeric_options_timeout_else_the_agents(options, expected):
    fake = SimpleNamespace(settings=SimpleNamespace(hook_timeout=3600.0))
    assert Deployer.timeout_for(fake, parse_item({"id": "x", "options": options})) == expected


def test_failure_reason_prefers_the_last_stoker_line():
    assert failure_reason(payload.failure("first")) == "first"
    assert failure_reason(payload.make("", "tool said\nstoker: the real reason\nmore\n", 2)) == "the real reason"
    assert failure_reason(payload.make("", "plain", 9)) == "exit status 9: plain"
    assert failure_reason(payload.make("", "", 9)) == "exit status 9"
    assert failure_reason(payload.make()) == "an error output was set"


def test_a_zombie_hook_counts_as_exited_for_recovery():
    child = subprocess.Popen(["true"])
    try:
        start = process_start_time(child.pid)
        deadline = time.monotonic() + 5
        while process_running(child.pid, start) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.path.exists(f"/proc/{child.pid}"), "the child should still be an unreaped zombie"
        assert not process_running(child.pid, start)
    finally:
        child.wait()
    sleeper = subprocess.Popen(["sleep", "5"])
    try:
        assert process_running(sleeper.pid, process_start_time(sleeper.pid))
        assert not process_running(sleeper.pid, "not-its-start-time"), "a reused pid is not our hook"
    finally:
        sleeper.kill()
        sleeper.wait()


# ------------------------------------------------------------------ hookkit's coercion

@pytest.mark.parametrize("value, text", [("s", "s"), (42, "42"), (3.5, "3.5"), (True, "true"), (False, "false"),
                                         (None, ""), ([1, "a"], '[1, "a"]'), ({"k": None}, '{"k": null}')])
def test_hookkit_as_text_coerces_every_input_type(value, text):
    assert hookkit.as_text(value) == text


def test_hookkit_input_env_skips_names_that_cannot_be_variables_and_nul_bytes():
    item = {"inputs": [{"name": "ok", "value": "a\x00b"}, {"name": "a=b", "value": "x"}, {"name": "", "value": 1},
                       {"name": "dup", "value": 1}, {"name": "dup", "value": 2}, "junk", {"value": 3}]}
    assert hookkit.input_env(item) == {"ok": "ab", "dup": "2"}
