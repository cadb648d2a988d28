"""jsontools: outside JSON made safe to hold (no non-finite numbers, bounded nesting)."""
import pytest

from stoker import jsontools

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[" * 100_000])
def test_loads_refuses_what_no_json_peer_can_read_or_python_can_walk(text):
    with pytest.raises(jsontools.JSONInputError):
        jsontools.loads(text)


def test_loads_reports_bad_encoding_and_syntax_as_one_error_type():
    for data in (b"\xff\xfe", b"{oops", b""):
        with pytest.raises(jsontools.JSONInputError):
            jsontools.loads(data)


def test_prune_cuts_values_deeper_than_the_limit_without_recursing():
    deep = []
    for _ in range(50_000):
        deep = [deep]
    pruned, cut = jsontools.prune({"keep": 1, "deep": deep}, limit=5)
    assert cut and pruned["keep"] == 1
    node = pruned["deep"]
    for _ in range(3):
        node = node[0]
    assert node == [jsontools.CUT]


def test_prune_leaves_a_shallow_value_equal_and_says_nothing_was_cut():
    value = {"a": [1, {"b": None}], "c": "x"}
    assert jsontools.prune(value) == (value, False)
