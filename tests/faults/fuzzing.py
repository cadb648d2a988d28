"""Hypothesis strategies for what reaches stoker from outside: documents, items, hook answers, state.

They aim at the shapes that broke agents before: nulls and wrong types where
objects are expected, names that are lists, huge and non-finite numbers, lone
surrogates and control characters in names, groups too long for a file name,
ids repeated, and deep nesting.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.text(alphabet="\x00\n\r\t\"\\/.", max_size=6),
    st.sampled_from(["", "../../bin/sh", "script", "component", "Heat::Ungrouped", "x" * 300,
                     "CREATE", "DELETE", "deploy_action", "deploy_signal_transport", "NO_SIGNAL"]),
)
NUMBERS = st.one_of(st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, 1, -1, 2 ** 31, 1e308]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(ODD_TEXT, inner, max_size=4)), max_leaves=12)


def nested(depth: int) -> Any:
    """A value nested ``depth`` lists deep (deeper than any recursive walk can follow)."""
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _input_entries() -> st.SearchStrategy:
    good = st.fixed_dictionaries({"name": ODD_TEXT, "value": JSON_VALUES})
    odd = st.one_of(JSON_VALUES, st.fixed_dictionaries({"name": JSON_VALUES, "value": JSON_VALUES}))
    heat = st.fixed_dictionaries({"name": st.sampled_from(["deploy_action", "deploy_signal_transport",
                                                           "deploy_signal_id", "deploy_auth_url"]),
                                  "value": st.one_of(ODD_TEXT, JSON_VALUES)})
    return st.one_of(good, odd, heat)


def _field(name: str, usual: st.SearchStrategy) -> st.SearchStrategy:
    """A field that is usually well-formed and sometimes anything at all."""
    return st.one_of(usual, JSON_VALUES)


@st.composite
def items(draw: st.DrawFn) -> Any:
    """One deployment item: mostly item-shaped, with any field replaced by anything."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON_VALUES)
    item: dict[str, Any] = {}
    item["id"] = draw(st.one_of(st.sampled_from(["a", "b", "c"]), ODD_TEXT, JSON_VALUES))
    if draw(st.booleans()):
        item["name"] = draw(_field("name", ODD_TEXT))
    item["group"] = draw(st.one_of(st.sampled_from(["ok", "script-missing", "component", "ok"]), ODD_TEXT,
                                   JSON_VALUES))
    item["inputs"] = draw(_field("inputs", st.lists(_input_entries(), max_size=5)))
    if draw(st.booleans()):
        item["outputs"] = draw(_field("outputs", st.lists(st.fixed_dictionaries(
            {"name": ODD_TEXT, "error_output": JSON_VALUES}), max_size=3)))
    if draw(st.booleans()):
        item["options"] = draw(_field("options", st.dictionaries(
            st.sampled_from(["timeout", "x"]), st.one_of(NUMBERS, JSON_VALUES), max_size=2)))
    if item["group"] == "component" or draw(st.integers(0, 4)) == 0:
        entry = st.fixed_dictionaries({"actions": st.one_of(st.lists(ODD_TEXT, max_size=3), JSON_VALUES),
                                       "tool": st.one_of(st.just("ok"), ODD_TEXT, JSON_VALUES),
                                       "config": JSON_VALUES})
        item["config"] = draw(st.one_of(st.fixed_dictionaries({"configs": st.lists(entry, max_size=3)}),
                                        JSON_VALUES))
    if draw(st.integers(0, 29)) == 0:
        item["config"] = nested(draw(st.integers(90, 600)))
    return item


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A whole metadata document as the bytes a source would return."""
    kind = draw(st.integers(0, 29))
    if kind == 0:
        return draw(st.binary(max_size=64))
    if kind == 1:
        depth = draw(st.integers(900, 100_000))
        return b"[" * depth + b"]" * depth
    if kind == 2:
        return draw(st.sampled_from([b"NaN", b'{"deployments": [{"id": "a", "x": Infinity}]}',
                                     b'{"deployments": 1e400}', b"", b"null", b'"text"']))
    deployments = draw(st.one_of(st.lists(items(), max_size=4), JSON_VALUES))
    value: Any = {"deployments": deployments}
    if draw(st.booleans()):
        value["os-collect-config"] = draw(st.one_of(JSON_VALUES, st.fixed_dictionaries(
            {"collectors": st.one_of(st.lists(st.one_of(ODD_TEXT, JSON_VALUES), max_size=3), JSON_VALUES),
             "polling_interval": st.one_of(NUMBERS, JSON_VALUES), "local": JSON_VALUES})))
    if draw(st.integers(0, 9)) == 0:
        value = deployments
    return json.dumps(value).encode("utf-8", "surrogatepass")


@st.composite
def hook_answers(draw: st.DrawFn) -> bytes:
    """What a hook prints: a JSON answer with odd fields, broken JSON, non-finite numbers or noise."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=80))
    if kind == 1:
        return draw(st.sampled_from([b'{"deploy_status_code": Infinity}', b'{"deploy_status_code": NaN}',
                                     b'{"deploy_status_code": -Infinity, "x": 1}', b'{"a": 1e999}',
                                     b"[" * 5000 + b"]" * 5000, b'{"deploy_stdout": ' + b"[" * 3000]))
    answer: dict[str, Any] = draw(st.dictionaries(ODD_TEXT, JSON_VALUES, max_size=3))
    for key in ("deploy_stdout", "deploy_stderr", "deploy_status_code"):
        if draw(st.booleans()):
            answer[key] = draw(st.one_of(JSON_VALUES, NUMBERS, ODD_TEXT))
    if kind == 2:
        return json.dumps(draw(JSON_VALUES)).encode("utf-8", "surrogatepass")
    return json.dumps(answer).encode("utf-8", "surrogatepass")


RECORD_FIELDS = ("key", "id", "name", "group", "action", "tool", "state", "seen_at", "started_at",
                 "finished_at", "duration", "status_code", "ok", "reason", "pid", "pid_start", "boot_id")
SIGNAL_FIELDS = ("transport", "state", "attempts", "next_attempt_at", "deadline", "last_error",
                 "http_status", "delivered_at")


@st.composite
def damaged_json(draw: st.DrawFn, valid: bytes) -> bytes:
    """A state file as damage leaves it: empty, cut, garbage, of the wrong shape, or a field gone wrong."""
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return b""
    if kind == 1:  # the cut is a fraction, so that the same draws damage files of any length
        return valid[: len(valid) * draw(st.integers(0, 999)) // 1000]
    if kind == 2:
        return draw(st.binary(min_size=1, max_size=60))
    if kind == 3:
        return json.dumps(draw(JSON_VALUES)).encode("utf-8", "surrogatepass")
    if kind == 4:
        return b"\xff\xfe" + valid
    value = json.loads(valid)
    if isinstance(value, dict) and value:
        fields = sorted(value)
        name = draw(st.sampled_from(fields))
        if kind == 5:
            value[name] = draw(st.one_of(JSON_VALUES, NUMBERS))
        elif isinstance(value.get("signal"), dict):
            value["signal"][draw(st.sampled_from(SIGNAL_FIELDS))] = draw(JSON_VALUES)
        else:
            value.pop(name)
    return json.dumps(value).encode("utf-8", "surrogatepass")
