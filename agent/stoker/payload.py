"""The signal payload: what a hook's run means, in the shape Heat accepts.

(docs/protocol.md, "the hook contract" and "signals".) This is where the
upstream defects around results are fixed: a non-zero exit is never reported
as success, an empty or malformed answer from a hook is a failure with a
reason, and the payload always fits under Heat's request body limit, keeping
the tail of the output because errors come last. A hook's answer is validated
here, once, like Heat's items are in :mod:`metadata`: whatever it prints, the
result is a payload whose status code is an integer, or the decimal text of
one when the hook wrote it so (read it with :func:`status_code`).
"""
from __future__ import annotations

import json
import math
import re
import signal
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import jsontools

if TYPE_CHECKING:
    from .runner import HookOutcome

STDOUT = "deploy_stdout"
STDERR = "deploy_stderr"
CODE = "deploy_status_code"
MAX_BODY = 1_000_000  # Heat refuses bodies over 1 MiB; stay clearly under it
TIMEOUT_CODE = 124  # what timeout(1) uses
CODE_LIMIT = 2 ** 31  # a status code is an exit status, or at least fits in a C int


def make(stdout: str = "", stderr: str = "", code: int = 0, **outputs: Any) -> dict[str, Any]:
    """A payload from its parts."""
    payload: dict[str, Any] = dict(outputs)
    payload.update({STDOUT: stdout, STDERR: stderr, CODE: code})
    return payload


def failure(reason: str, code: int = 1, stdout: str = "", stderr: str = "") -> dict[str, Any]:
    """A failed deployment whose ``deploy_stderr`` ends with the reason, prefixed ``stoker:``."""
    text = (stderr.rstrip("\n") + "\n" if stderr else "") + f"stoker: {reason}\n"
    return make(stdout, text, code or 1)


def status_code(payload: Mapping[str, Any]) -> int:
    """The payload's status code as Heat would judge it (0 means success), always an int."""
    return checked_code(payload.get(CODE))[0]


def checked_code(code: Any) -> tuple[int, str | None]:
    """A status code as an int, and what was wrong with it (None when nothing was).

    Heat's rule is "empty or 0 is success, anything else is failure"; codes
    that are not integers (or do not fit in one) count as failure 1.
    """
    if code is None or code is False or code == "" or code == 0:
        return 0, None
    if code is True:
        return 1, "deploy_status_code is true, not an integer"
    if isinstance(code, float):
        if not math.isfinite(code):
            return 1, f"deploy_status_code {code} is not a finite number"
        if code != int(code):
            return 1, f"deploy_status_code {code} is not an integer"
        code = int(code)
    if isinstance(code, str):
        try:
            code = int(code.strip())
        except ValueError:
            return 1, f"deploy_status_code {code[:40]!r} is not a number"
    if not isinstance(code, int):
        return 1, f"deploy_status_code is a {type(code).__name__}, not an integer"
    if not -CODE_LIMIT <= code < CODE_LIMIT:
        return 1, f"deploy_status_code {str(code)[:40]} is out of range"
    return code, None


def is_success(payload: Mapping[str, Any], outputs: Iterable[Mapping[str, Any]] = ()) -> bool:
    """Heat's rule: status code 0 and no ``error_output`` output present."""
    if status_code(payload) != 0:
        return False
    return not any(o.get("error_output") and o.get("name") in payload for o in outputs)


def from_hook(outcome: "HookOutcome", hook: str) -> dict[str, Any]:
    """Interpret a finished hook process; a disk that filled up while it ran fails it, saying so."""
    result = _interpret(outcome, hook)
    if outcome.disk_full:
        result = failure(f"{outcome.disk_full}: hook {hook}'s output may be incomplete and its result "
                         "could not be trusted", status_code(result) or 1,
                         str(result.get(STDOUT, "")), str(result.get(STDERR, "")))
    return result


def _interpret(outcome: "HookOutcome", hook: str) -> dict[str, Any]:
    stderr = _text(outcome.stderr, outcome.stderr_cut)
    stdout = _text(outcome.stdout, outcome.stdout_cut)
    if outcome.start_error:
        return failure(f"cannot run hook {hook}: {outcome.start_error}", 126, stdout, stderr)
    if outcome.timed_out:
        return failure(f"timed out: hook {hook} ran longer than the {outcome.timeout:g}s timeout "
                       "and was stopped", TIMEOUT_CODE, stdout, stderr)
    code = outcome.returncode or 0
    if code < 0:
        return failure(f"hook {hook} was killed by signal {_signal_name(-code)}", 128 - code, stdout, stderr)
    answer, problem = _parse_answer(stdout) if not outcome.stdout_cut else (None, None)
    if problem is not None:
        return failure(f"hook {hook} answered {problem}", code or 1, stdout, stderr)
    if answer is not None:
        return _with_exit_code(_normalised(answer, hook), code, hook)
    if 128 < code < 128 + signal.NSIG and answer is None:  # how sh reports a hook killed by a signal
        return failure(f"hook {hook} was killed by signal {_signal_name(code - 128)}", code, stdout, stderr)
    if not stdout.strip() and code in _EXEC_FAILURES:  # how sh reports a hook it could not start
        return failure(f"cannot run hook {hook}: {_EXEC_FAILURES[code]}", code, "", stderr)
    if not stdout.strip():
        if code == 0:
            return failure(f"hook {hook} exited 0 but printed no result: the tool it runs "
                           "probably did not run (is it installed?)", 1, "", stderr)
        return failure(f"hook {hook} exited with status {code} and printed no result", code, "", stderr)
    return make(stdout, stderr, code)


def nothing_to_do(message: str) -> dict[str, Any]:
    """A success that ran nothing, with the reason where the template author will look."""
    return make(message + "\n", "", 0)


def _text(data: bytes, cut: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return f"[stoker: {cut} bytes cut above]\n{text}" if cut else text


def _parse_answer(stdout: str) -> tuple[dict[str, Any] | None, str | None]:
    """The hook's JSON answer, or None for plain text; and what is wrong with it, if anything.

    Text that is not JSON at all is a hook that does not speak the contract
    (its output is kept as stdout); JSON that is not an object, or that holds
    numbers no JSON peer accepts (NaN, Infinity, 1e400), is a broken answer
    and fails the deployment.
    """
    text = stdout.strip()
    if not text or text[0] not in "{[\"-0123456789tfnNI":
        return None, None
    nonfinite: list[str] = []

    def number(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            nonfinite.append(literal)
        return value

    try:
        value = json.loads(text, parse_float=number, parse_constant=lambda c: nonfinite.append(c))
    except RecursionError:
        return None, "with JSON nested too deeply to read"
    except ValueError:
        return None, None
    if not isinstance(value, dict):
        return None, f"with a JSON {_JSON_TYPES.get(type(value), 'value')}, not an object"
    if nonfinite:
        return None, f"with {nonfinite[0][:40]}, which is not a JSON number Heat can read"
    pruned, cut = jsontools.prune(value)
    if cut:
        return None, f"with JSON nested deeper than {jsontools.MAX_DEPTH} levels"
    return pruned, None


_EXEC_FAILURES = {126: "it is not executable", 127: "it, or the interpreter its first line names, was not found"}
_JSON_TYPES = {list: "list", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


def _normalised(answer: dict[str, Any], hook: str) -> dict[str, Any]:
    payload = dict(answer)
    for key in (STDOUT, STDERR):
        value = payload.get(key)
        payload[key] = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    written = payload.get(CODE)
    payload[CODE], problem = checked_code(written)
    if isinstance(written, str) and not problem and written == str(payload[CODE]):
        payload[CODE] = written  # "0", "-1": passed on as the hook wrote it, as upstream does; Heat reads both
    if problem:
        payload[STDERR] = payload[STDERR].rstrip("\n") + ("\n" if payload[STDERR] else "") + \
            f"stoker: hook {hook} answered an unusable status: {problem}\n"
    return payload


def _with_exit_code(payload: dict[str, Any], code: int, hook: str) -> dict[str, Any]:
    """A non-zero exit is a failure even when the hook's own answer claims success."""
    if code != 0 and status_code(payload) == 0:
        payload[CODE] = code
        payload[STDERR] = payload[STDERR].rstrip("\n") + ("\n" if payload[STDERR] else "") + \
            f"stoker: hook {hook} exited with status {code} although its answer said 0\n"
    return payload


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


# ------------------------------------------------------------------ size

def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as the JSON body that is sent."""
    return len(json.dumps(value).encode("utf-8"))


def fit(payload: Mapping[str, Any], limit: int = MAX_BODY) -> dict[str, Any]:
    """Make the payload's JSON at most ``limit`` bytes.

    Oversized outputs are replaced by an error (and the deployment fails:
    a silently wrong attribute is worse than a clear failure); then stdout
    and stderr are cut from the top, keeping their tails.
    """
    result = dict(payload)
    if encoded_size(result) <= limit:
        return result
    _replace_oversized_outputs(result, limit)
    spare = limit - encoded_size({**result, STDOUT: "", STDERR: ""}) - 200
    stdout, stderr = str(result.get(STDOUT, "")), str(result.get(STDERR, ""))
    out_budget, err_budget = _split_budget(spare, encoded_size(stdout), encoded_size(stderr))
    result[STDOUT] = keep_tail(stdout, out_budget)
    result[STDERR] = keep_tail(stderr, err_budget)
    return result


def _replace_oversized_outputs(result: dict[str, Any], limit: int) -> None:
    outputs = sorted((k for k in result if k not in (STDOUT, STDERR, CODE)),
                     key=lambda k: encoded_size(result[k]), reverse=True)
    for name in outputs:
        if encoded_size({k: v for k, v in result.items() if k not in (STDOUT, STDERR)}) <= limit // 2:
            break
        size = encoded_size(result[name])
        result[name] = f"stoker: output {name!r} was {size} bytes, too large for Heat's signal limit"
        result[CODE] = status_code(result) or 1
        stderr = str(result.get(STDERR, "")).rstrip("\n")
        result[STDERR] = (stderr + "\n" if stderr else "") + \
            f"stoker: output {name!r} ({size} bytes) was too large to send and was replaced by an error\n"


def _split_budget(spare: int, out_size: int, err_size: int) -> tuple[int, int]:
    """Share the space between stdout and stderr: half each, and what one leaves goes to the other."""
    spare = max(spare, 0)
    half = spare // 2
    if out_size <= half:
        return out_size, spare - out_size
    if err_size <= half:
        return spare - err_size, err_size
    return half, spare - half


# The note a hook (hookkit) or the runner puts above output it already cut.
_EARLIER_CUT = re.compile(r"\[stoker: (\d+) bytes cut above[^\]\n]*\]\n")


def keep_tail(text: str, budget: int) -> str:
    """The longest tail of ``text`` whose JSON encoding (with a cut note) fits in ``budget`` bytes.

    When ``text`` starts with the note of an earlier cut (by the hook or the
    runner), the new note counts those bytes too, so it says how much is missing in all.
    """
    if encoded_size(text) <= budget:
        return text
    earlier = _EARLIER_CUT.match(text)
    before = int(earlier.group(1)) if earlier else 0
    text = text[earlier.end():] if earlier else text
    low, high = 0, len(text)  # find the smallest start index that fits
    while low < high:
        middle = (low + high) // 2
        if encoded_size(_cut_note(text, middle, before)) <= budget:
            high = middle
        else:
            low = middle + 1
    return _cut_note(text, low, before)


def _cut_note(text: str, start: int, before: int = 0) -> str:
    cut = before + len(text[:start].encode("utf-8"))
    return f"[stoker: {cut} bytes cut above to fit Heat's signal size limit]\n" + text[start:]
