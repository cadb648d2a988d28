"""plan: which hook runs each deployment item, which items are skipped, and failures decided before any hook runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from stoker import payload, plan
from stoker.metadata import parse_document
from tests.agent_helpers import doc_item

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("group, name", [
    ("script", "script"), ("chef-solo", "chef-solo"), ("my_hook2", "my_hook2"),
    ("../../bin/sh", "binsh"), ("/bin/sh", "binsh"), ("..", ""), ("a/../b", "ab"),
    ("Heat::Ungrouped", "HeatUngrouped"), ("scr\u00efpt", "scrpt"), ("sh;rm -rf /", "shrm-rf"),
    ("x\x00y", "xy"), ("", ""),
])
def test_hook_name_keeps_only_safe_characters(group, name):
    assert plan.hook_name(group) == name


def make_hook(directory: Path, name: str, mode: int = 0o755) -> Path:
    """An executable (unless ``mode`` says otherwise) hook file ``name`` in ``directory``."""
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
        assert "options" not in work.stdin and "outputs" not in work.stdin  # the item as Heat sent it
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
