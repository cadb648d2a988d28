"""What would run next, without running it (``stoker plan``; docs/architecture.md, "Previewing").

The same decision the deployer makes (:func:`stoker.plan.plan` over the
journal's known ids), stopped before anything happens: for each pending
deployment, in run order, the hook that would run or why none would, the
component entry chosen, and what changed since the last run of the same
deployment (Heat's stack and resource, else its name) with secrets masked.

Where the hook declares a dry run (a ``# stoker-dry-run: ...`` line in its
file: stoker's puppet, ansible, jinja2 and json-file hooks) it is run with
``STOKER_DRY_RUN=1`` and every working, output and log directory it knows
pointed into one temporary directory, which is removed afterwards; a hook
without one (script, third-party hooks) is never started. Nothing is written
to the state directory.
"""
from __future__ import annotations

import difflib
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import payload, redaction, runner
from .journal import Journal, Record
from .metadata import Document, Item, parse_item
from .plan import HookFinder, Work, plan
from .status import current, deployment_identity, identity

DRY_RUN_MARK = b"# stoker-dry-run:"
DRY_RUN_LIMIT = 64 * 1024  # how much of a hook file is searched for the mark
# Where stoker's hooks (and the tools they run) would write, each pointed into the preview's temp dir.
REDIRECTED_DIRS = ("HEAT_PUPPET_WORKING", "HEAT_PUPPET_OUTPUTS", "HEAT_PUPPET_HIERA_DATADIR",
                   "HEAT_PUPPET_LOGDIR", "HEAT_ANSIBLE_WORKING", "HEAT_ANSIBLE_OUTPUTS",
                   "ANSIBLE_LOCAL_TEMP", "ANSIBLE_HOME", "HOME")


@dataclass
class DryRun:
    """A hook's preview: how it previews, and what it answered."""

    how: str
    status_code: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class Pending:
    """One deployment that would run next."""

    item: Item
    tool: str
    hook: Path | None
    verdict: dict[str, Any] | None             # decided without a hook (why none would run)
    entry: dict[str, Any] | None = None        # the component entry chosen: its tool and actions
    stdin: dict[str, Any] | None = None        # what the hook would read (plan.Work's)
    previous: Record | None = None             # the last run of the same deployment
    changes: dict[str, Any] = field(default_factory=dict)
    dry_run: DryRun | None = None

    @property
    def reason(self) -> str:
        """Why no hook would run (the decided payload's words), else ''."""
        if self.verdict is None:
            return ""
        text = str(self.verdict.get(payload.STDERR) or self.verdict.get(payload.STDOUT) or "")
        return redaction.redact(text.strip())

    @property
    def outcome(self) -> str:
        """``run`` (a hook would start), ``fail`` or ``report`` (decided without a hook)."""
        if self.hook is not None:
            return "run"
        return "fail" if self.verdict is not None and not payload.is_success(self.verdict) else "report"


def pending(document: Document, journal: Journal, finder: HookFinder) -> list[Pending]:
    """Every deployment the agent would run for ``document``, in run order."""
    records = journal.records()
    known = {record.key for record in records}
    return [_describe(work, records, journal) for work in plan(document, known, finder)]


def _describe(work: Work, records: list[Record], journal: Journal) -> Pending:
    item = work.item
    redaction.remember_secret_fields(item.raw.get("inputs"))
    entry = None if work.entry is None or work.hook is None else \
        {"tool": work.entry["tool"], "actions": list(work.entry["actions"])}
    found = Pending(item, work.tool, work.hook, work.verdict, entry, work.stdin)
    found.previous = _previous_run(item, records)
    if found.previous is not None:
        before = _stored_item(journal, found.previous.key)
        found.changes = changes(before, item) if before is not None else {"unknown": True}
    return found


def _previous_run(item: Item, records: list[Record]) -> Record | None:
    """The newest record of the same deployment (same Heat stack and resource, else same name)."""
    wanted = identity(item.stack_name, item.resource_name, item.name or item.key)
    runs = [r for r in records if deployment_identity(r) == wanted]
    return current(runs)[0] if runs else None  # all runs of one deployment: current keeps the newest


def _stored_item(journal: Journal, key: str) -> Item | None:
    raw, _problem = journal.item(key)  # read-only: a damaged item is the agent's to set aside
    return parse_item(raw) if raw is not None else None


def changes(before: Item, after: Item) -> dict[str, Any]:
    """What differs between two runs of one deployment: inputs (secrets masked) and config (a diff)."""
    inputs: dict[str, Any] = {}
    for name in sorted(set(before.inputs) | set(after.inputs)):
        if name.startswith("deploy_") and name != "deploy_action":
            continue  # Heat's own plumbing (server id, signal URLs) says nothing about the change
        old, new = before.inputs.get(name, _ABSENT), after.inputs.get(name, _ABSENT)
        if old == new:
            continue
        if redaction.SECRET_NAME_RE.search(name):
            inputs[name] = {"changed": "(secret: masked)"}
        else:
            inputs[name] = {"before": _shown(old), "after": _shown(new)}
    diff = config_diff(before.config, after.config)
    result: dict[str, Any] = {}
    if inputs:
        result["inputs"] = inputs
    if diff:
        result["config"] = diff
    if before.group != after.group:
        result["group"] = {"before": before.group, "after": after.group}
    return result


_ABSENT = object()


def _shown(value: Any) -> Any:
    return "(absent)" if value is _ABSENT else redaction.redact_value(value)


def config_diff(before: Any, after: Any) -> str:
    """A unified diff of two configs as text (JSON for structured ones), secrets masked."""
    old, new = _config_text(before), _config_text(after)
    if old == new:
        return ""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile="last run", tofile="next run")
    return redaction.redact("".join(line if line.endswith("\n") else line + "\n" for line in lines))


def _config_text(config: Any) -> str:
    if isinstance(config, str):
        return config
    return json.dumps(redaction.redact_value(config), indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------ dry runs


def dry_run_how(hook: Path) -> str | None:
    """What the hook says its dry run does, or None when it has none (then it must not be started)."""
    try:
        with open(hook, "rb") as handle:
            head = handle.read(DRY_RUN_LIMIT)
    except OSError:
        return None
    for line in head.splitlines():
        if line.strip().startswith(DRY_RUN_MARK):
            return line.strip()[len(DRY_RUN_MARK):].decode("utf-8", "replace").strip() or "a dry run"
    return None


def run_dry(found: Pending, env: Mapping[str, str], timeout: float) -> DryRun | None:
    """Run the hook's dry run in a temporary directory that is removed afterwards; None without one."""
    assert found.hook is not None and found.stdin is not None
    how = dry_run_how(found.hook)
    if how is None:
        return None
    with tempfile.TemporaryDirectory(prefix="stoker-plan-") as scratch:
        hook_env = dict(env, STOKER_DRY_RUN="1")
        for name in REDIRECTED_DIRS:
            hook_env[name] = os.path.join(scratch, name.lower())
            os.makedirs(hook_env[name], mode=0o700)
        outcome = _run(found.hook, json.dumps(found.stdin).encode("utf-8"), hook_env, scratch, timeout)
    answer = payload.from_hook(outcome, found.hook.name)
    return DryRun(how, payload.status_code(answer), redaction.redact(str(answer.get(payload.STDOUT, ""))),
                  redaction.redact(str(answer.get(payload.STDERR, ""))))


def _run(hook: Path, stdin: bytes, env: Mapping[str, str], cwd: str, timeout: float) -> runner.HookOutcome:
    started = time.monotonic()
    try:
        done = subprocess.run([str(hook)], input=stdin, capture_output=True, env=runner.hook_env(env),
                              cwd=cwd, timeout=timeout, start_new_session=True, check=False)
    except subprocess.TimeoutExpired as err:
        return runner.HookOutcome(stdout=err.stdout or b"", stderr=err.stderr or b"", timed_out=True,
                                  timeout=timeout, duration=time.monotonic() - started)
    except OSError as err:
        return runner.HookOutcome(start_error=f"{err.strerror or err}")
    return runner.HookOutcome(done.returncode, done.stdout, done.stderr, duration=time.monotonic() - started)
