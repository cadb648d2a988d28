"""``stoker plan [--json] [--no-dry-run] [FILE|-]``: what would run next, without running it.

Against a metadata file, or (no file) against the live metadata: one fetch
through the source the agent would poll, changing no state. The decisions and
dry runs are in ``stoker/preview.py``. Exit codes: 0 nothing would run,
7 deployments would run (``exitcodes.CHANGES_PENDING``), 2 bad input, 6 the
live metadata could not be fetched.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import sourceconfig
from ..config import Settings
from ..exitcodes import BAD_INPUT, CHANGES_PENDING, OK, SOURCE_ERROR
from ..journal import Journal
from ..metadata import Document, MetadataError, load_document
from ..plan import HookFinder
from ..redaction import redact, redact_value
from ..session import tls_options

if TYPE_CHECKING:
    from ..preview import Pending

LOG = logging.getLogger("stoker.cli")
SCHEMA_VERSION = 1


class NoDocument(Exception):
    """The metadata could not be had; ``code`` is the exit code that says why."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``plan`` to the ``stoker`` parser."""
    parser = commands.add_parser("plan", parents=[common], help="show what would run next, without running it")
    parser.add_argument("file", nargs="?", help="metadata JSON file, or - for stdin (default: fetch the live "
                                                "metadata once)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-dry-run", action="store_true",
                        help="do not run the hooks' dry runs (puppet --noop, ansible --check, file diffs)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the pending deployments; 7 when any would run, 0 when none would."""
    from ..preview import pending, run_dry  # here, not at the top: difflib and tempfile stay out of the daemon

    try:
        document, origin = _document(args.file, settings)
    except NoDocument as err:
        LOG.error("%s", err)
        return err.code
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    found = pending(document, journal, HookFinder(settings.hook_search_path()))
    if not args.no_dry_run:
        env = {**os.environ, **settings.hook_environment}
        for entry in found:
            if entry.hook is not None:
                entry.dry_run = run_dry(entry, env, entry.item.timeout or settings.hook_timeout)
    print(as_json(found, origin) if args.json else as_text(found, origin))
    return CHANGES_PENDING if found else OK


def _document(name: str | None, settings: Settings) -> tuple[Document, str]:
    if name is not None:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            return load_document(data), "standard input" if name == "-" else name
        except (OSError, MetadataError) as err:
            raise NoDocument(f"cannot plan {name}: {err}", BAD_INPUT) from None
    return _live(settings)


def _live(settings: Settings) -> tuple[Document, str]:
    """One fetch through the source the agent would poll; no validators, nothing remembered."""
    from ..sources import make_source

    source = sourceconfig.initial(settings)
    if source is None:
        raise NoDocument("no metadata source is configured, so there is nothing live to plan against; "
                         "give a metadata file", SOURCE_ERROR)
    where = f"{source.kind} at {source.endpoint()}"
    try:
        fetched = make_source(source.kind, source.settings, timeout=settings.timeout,
                              tls=tls_options(settings)).fetch({})
        if fetched.content is None:
            raise NoDocument(f"{where} answered no metadata", SOURCE_ERROR)
        return load_document(fetched.content), where
    except NoDocument:
        raise
    except MetadataError as err:
        raise NoDocument(f"the metadata from {where}: {err}", BAD_INPUT) from None
    except Exception as err:  # noqa: BLE001 - any source failure is reported, never a traceback
        raise NoDocument(f"fetching the metadata from {where} failed: {err}", SOURCE_ERROR) from None


# ------------------------------------------------------------------ views


def as_json(found: list[Pending], origin: str) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION, "metadata": redact(origin),
                       "pending": [redact_value(_row(entry, position)) for position, entry in enumerate(found, 1)]},
                      indent=2, sort_keys=True)


def _row(entry: Pending, position: int) -> dict[str, Any]:
    item, previous = entry.item, entry.previous
    return {
        "position": position, "name": item.name, "id": item.id, "action": item.action, "group": item.group,
        "tool": entry.tool, "stack": item.stack_name, "resource": item.resource_name,
        "would": entry.outcome, "hook": str(entry.hook) if entry.hook else None,
        "reason": entry.reason or None,
        "component_entry": entry.entry,
        "last_run": None if previous is None else {"id": previous.id, "action": previous.action,
                                                   "ok": previous.ok, "started_at": previous.started_at},
        "changes": entry.changes,
        "dry_run": None if entry.dry_run is None else {
            "how": entry.dry_run.how, "status_code": entry.dry_run.status_code,
            "stdout": entry.dry_run.stdout, "stderr": entry.dry_run.stderr},
    }


def as_text(found: list[Pending], origin: str) -> str:
    if not found:
        return f"nothing would run: every deployment in {redact(origin)} has run already"
    lines = [f"{len(found)} deployment(s) would run, in this order (metadata: {redact(origin)}):"]
    for position, entry in enumerate(found, 1):
        lines += [""] + _entry_lines(entry, position)
    return "\n".join(lines)


def _entry_lines(entry: Pending, position: int) -> list[str]:
    item = entry.item
    heat = f", Heat {item.stack_name}/{item.resource_name}" if item.resource_name else ""
    lines = [f"{position}. {item.name or item.id} (id {item.id}, action {item.action}{heat})"]
    if entry.entry is not None:
        lines.append(f"   component entry: tool {entry.entry['tool']}, actions {', '.join(entry.entry['actions'])}")
    if entry.hook is None:
        what = "would fail" if entry.outcome == "fail" else "would be reported without a hook"
        lines.append(f"   {what}: {entry.reason}")
    else:
        lines.append(f"   hook: {entry.hook}")
    lines += _change_lines(entry)
    lines += _dry_run_lines(entry)
    return lines


def _change_lines(entry: Pending) -> list[str]:
    if entry.previous is None:
        return ["   first run of this deployment"]
    changes = entry.changes
    if changes.get("unknown"):
        return ["   changes: unknown (the last run's item is no longer on disk)"]
    lines = [f"   since the last run ({entry.previous.action}, id {entry.previous.id}):"]
    for name, change in changes.get("inputs", {}).items():
        text = change["changed"] if "changed" in change else f"{change['before']!r} -> {change['after']!r}"
        lines.append(f"     input {name}: {redact(str(text))}")
    if "group" in changes:
        lines.append(f"     group: {changes['group']['before']} -> {changes['group']['after']}")
    if changes.get("config"):
        lines += ["     config:"] + [f"       {line}" for line in changes["config"].splitlines()]
    if len(lines) == 1:
        lines.append("     no change in inputs or config")
    return lines


def _dry_run_lines(entry: Pending) -> list[str]:
    if entry.hook is None:
        return []
    if entry.dry_run is None:
        return ["   would run the hook (it has no dry run, so it was not started)"]
    run = entry.dry_run
    lines = [f"   dry run ({run.how}): exit {run.status_code}"]
    for title, text in (("output", run.stdout), ("errors", run.stderr)):
        if text.strip():
            lines += [f"     {title}:"] + [f"       {line}" for line in text.rstrip().splitlines()]
    return lines
