"""metadata: the document Heat publishes read into items, tolerating what Heat may add and naming what is wrong."""
from __future__ import annotations

import pytest

from stoker.metadata import MetadataError, load_document, parse_document, parse_item
from tests.agent_helpers import doc_item

pytestmark = pytest.mark.unit


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


def test_hook_view_passes_the_item_unchanged_when_heat_left_keys_out():
    raw = {"id": "1111", "group": "chef", "inputs": [{"name": "deploy_signal_id", "value": "mock://x"}],
           "config": "one"}
    assert parse_item(dict(raw)).for_hook() == raw


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
