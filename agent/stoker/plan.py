"""Decide what to run, in list order (docs/architecture.md, "the data path").

New ids only; ``group: component`` expanded for the item's ``deploy_action``;
the hook found on the search path. Whatever cannot run (a malformed item, an
unknown group, a component without an entry for the action) is decided here as
a ready payload, so that it is signalled like any other result instead of
being skipped in silence as upstream does.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import payload
from .metadata import MAX_GROUP_LENGTH, Document, Item

LOG = logging.getLogger("stoker.plan")
COMPONENT = "component"
_NOT_IN_HOOK_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Work:
    """One deployment to carry out: a hook to run, or a payload already decided."""

    item: Item
    tool: str
    hook: Path | None = None
    stdin: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None  # for a component: the ``configs`` entry chosen for the action


def hook_name(group: str) -> str:
    """The hook file a group names: only ``[A-Za-z0-9_-]``, so no group can name a path."""
    return _NOT_IN_HOOK_NAME.sub("", group)


class HookFinder:
    """Finds the executable for a group on the hook search path (first match wins)."""

    def __init__(self, search_path: Sequence[Path]) -> None:
        self.search_path = list(search_path)

    def find(self, group: str) -> Path | None:
        name = hook_name(group)
        if not name:
            return None
        for directory in self.search_path:
            candidate = directory / name
            if _is_executable_file(candidate):
                return candidate
        return None

    def explain_missing(self, group: str) -> str:
        """Why no hook runs for ``group``, in words a template author can act on."""
        name = hook_name(group)
        where = ", ".join(str(d) for d in self.search_path) or "(no hook directories)"
        if not name:
            return f"no hook can run group {group!r}: a hook name needs letters, digits, '-' or '_'"
        found = [str(d / name) for d in self.search_path if _is_file(d / name)]
        if found:
            return f"no hook for group {group!r}: {found[0]} exists but is not executable"
        return f"no hook for group {group!r}: no executable named {name!r} in {where}"


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that answers False for names the system refuses (too long, ...)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _is_executable_file(path: Path) -> bool:
    return _is_file(path) and os.access(path, os.X_OK)


def plan(document: Document, known: Iterable[str], finder: HookFinder) -> list[Work]:
    """The work for every item whose id is not known yet, in the document's order.

    An id listed twice runs once (the first); the repeat is logged, since Heat
    never sends one and it hints at a hand-made or damaged document.
    """
    skip = set(known)
    planned: set[str] = set()
    work = []
    for item in document.items:
        if item.key in planned:
            LOG.warning("deployment id %s appears more than once in the metadata; running it once",
                        item.id or item.key)
        if item.key in skip:
            continue
        skip.add(item.key)
        planned.add(item.key)
        work.append(plan_item(item, finder))
    return work


def plan_item(item: Item, finder: HookFinder) -> Work:
    """What to do with one new item."""
    if item.problem:
        return Work(item, item.group, verdict=payload.failure(f"invalid deployment {item.label}: {item.problem}"))
    group, config, entry = item.group, item.config, None
    if group == COMPONENT:
        entry, verdict = component_entry(item)
        if entry is None:
            return Work(item, COMPONENT, verdict=verdict)
        group, config = entry["tool"], entry.get("config")
        stdin = item.for_hook(group, config)
    else:
        stdin = item.for_hook()
    hook = finder.find(group)
    if hook is None:
        return Work(item, group, verdict=payload.failure(finder.explain_missing(group)), entry=entry)
    return Work(item, group, hook=hook, stdin=stdin, entry=entry)


def component_entry(item: Item) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(entry, None)`` for the item's action, or ``(None, payload)`` when there is none.

    Heat sends only actions that some entry lists, so "no entry" is answered
    with a success that says so, rather than left without a signal.
    """
    config = item.config
    configs = config.get("configs") if isinstance(config, dict) else None
    if not isinstance(configs, list):
        return None, payload.failure(f"component {item.label}: config must be an object with a 'configs' list")
    for position, entry in enumerate(configs):
        problem = _entry_problem(entry)
        if problem:
            return None, payload.failure(f"component {item.label}: configs[{position}] {problem}")
        if item.action in entry["actions"]:
            return entry, None
    return None, payload.nothing_to_do(
        f"stoker: component {item.label} has no config for action {item.action}: nothing to do")


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "is not an object"
    actions = entry.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        return "needs 'actions', a list of action names"
    tool = entry.get("tool")
    if not isinstance(tool, str) or not tool:
        return "needs 'tool', the group of the hook to run"
    if len(tool) > MAX_GROUP_LENGTH:
        return f"has a 'tool' of {len(tool)} characters; a hook name has at most {MAX_GROUP_LENGTH}"
    return None
