"""payload: a hook's answer judged as Heat judges it, and trimmed to fit Heat's signal size limit."""
from __future__ import annotations

import json

import pytest

from stoker import payload
from stoker.deployer import failure_reason
from stoker.runner import HookOutcome

pytestmark = pytest.mark.unit


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
    """What the runner reports for a hook run, with exit 0 and no output unless told."""
    return HookOutcome(returncode=code, stdout=stdout, stderr=stderr, **kwargs)


def answer(**values):
    """A hook's JSON answer on stdout."""
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
    assert payload.from_hook(outcome(answer(deploy_status_code="2")), "h")["deploy_status_code"] == "2"


def test_from_hook_passes_a_status_written_as_text_on_as_written_and_reads_it_as_a_number():
    got = payload.from_hook(outcome(answer(deploy_status_code="-1")), "h")
    assert got["deploy_status_code"] == "-1" and payload.status_code(got) == -1
    exited = payload.from_hook(outcome(answer(deploy_status_code="0"), code=3), "h")
    assert exited["deploy_status_code"] == 3 and "exited with status 3" in exited["deploy_stderr"]
    assert payload.from_hook(outcome(answer(deploy_status_code=" 7")), "h")["deploy_status_code"] == 7


def test_from_hook_normalises_missing_and_odd_fields():
    got = payload.from_hook(outcome(answer(deploy_stdout=None, deploy_stderr={"a": 1}, deploy_status_code="0")), "h")
    assert got == {"deploy_stdout": "", "deploy_stderr": '{"a": 1}', "deploy_status_code": "0"}
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
