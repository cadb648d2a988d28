"""What happened on this machine, for people and scripts (``stoker status``, command summaries).

Built from the journal, the daemon's ``polling.json`` and the run directories
of hooks still running, and redacted: nothing here may show a password, token
or signed URL. :func:`exit_code` sums records up with the codes of
:mod:`stoker.exitcodes`, the one table of the command's exit codes.

The JSON form is an interface for scripts: its shape is described by
``data/status.schema.json`` (shipped with the package) and versioned by
``schema_version``, which changes only when a field changes meaning or goes
away (adding a field keeps the version).

A deployment Heat runs again (a stack update, a later action) leaves one record
per run. Only the newest record of each deployment counts for the exit code,
so a script fixed by a stack update does not keep ``status`` failing forever;
the older ones are shown as *superseded*.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from . import runner
from .exitcodes import FAILED, OK, PENDING, UNDELIVERABLE
from .journal import FINISHED, SIGNAL_FAILED, SIGNAL_PENDING, Journal, Record
from .pollstate import PollState, PollStateFile
from .redaction import redact, redact_value

SCHEMA_VERSION = 1


@dataclass
class Progress:
    """A running hook, seen from outside: how long it has run and the last line it printed."""

    elapsed: float
    last_output: str


@dataclass
class Snapshot:
    """Everything ``stoker status`` shows, read once."""

    records: list[Record]
    damage: list[dict] = field(default_factory=list)
    polling: PollState | None = None
    agent_running: bool = False
    progress: dict[str, Progress] = field(default_factory=dict)


def snapshot(journal: Journal, work_dir: Path) -> Snapshot:
    """Read the state directory without changing it (works beside a running agent)."""
    records = journal.records()
    polling = PollStateFile(journal.state_dir).load()
    now = time.time()
    progress = {r.key: Progress(now - (r.started_at or r.seen_at or now),
                                redact(runner.last_output_line(work_dir / r.key)))
                for r in records if r.state != FINISHED}
    return Snapshot(records, damage_report(journal), polling,
                    polling is not None and _alive(polling.pid), progress)


def identity(stack: str, resource: str, name: str) -> tuple[str, str]:
    """What makes two runs one deployment: Heat's stack and resource, else the name.

    A stack update gives the config a new name and id, but not the resource.
    """
    return (stack, resource) if resource else ("", name)


def deployment_identity(record: Record) -> tuple[str, str]:
    """The deployment a journal record is a run of (see :func:`identity`)."""
    return identity(record.stack, record.resource, record.name or record.key)


def current(records: Iterable[Record]) -> list[Record]:
    """The newest record of each deployment, in the order given."""
    records = list(records)
    newest: dict[tuple[str, str], Record] = {}
    for record in records:
        key = deployment_identity(record)
        held = newest.get(key)
        if held is None or _when(record) >= _when(held):
            newest[key] = record
    chosen = {id(r) for r in newest.values()}
    return [r for r in records if id(r) in chosen]


def exit_code(records: Iterable[Record], damage: Iterable[dict] = ()) -> int:
    """The exit code that sums up these records: of 1 to 4 in :mod:`stoker.exitcodes`, the first
    that applies in the order 1, 4, 3 (2 is decided before there are records).

    Only the newest record of each deployment counts. A damaged state file the
    agent has not dealt with yet counts as a failure; once quarantined, the
    failure it caused is in the records.
    """
    records = current(records)
    if any(r.state == FINISHED and r.ok is False for r in records) or \
            any(not entry.get("moved_to") for entry in damage):
        return FAILED
    if any(r.signal.state == SIGNAL_FAILED for r in records):
        return UNDELIVERABLE
    if busy(records):
        return PENDING
    return OK


def busy(records: Iterable[Record]) -> bool:
    """Whether a hook still runs or a signal still waits (what ``status --wait`` waits for)."""
    return any(r.state != FINISHED or r.signal.state == SIGNAL_PENDING for r in current(records))


def damage_report(journal: Journal) -> list[dict]:
    """Damaged state files: those in quarantine, and (read-only views) those still in place."""
    entries = [dict(entry, at=iso_time(entry["at"])) for entry in journal.quarantine.entries()]
    for damaged in journal.damaged:
        entries.append({"file": str(journal.dir / f"{damaged.key}.json"), "reason": damaged.reason,
                        "at": None, "moved_to": ""})
    return entries


# ------------------------------------------------------------------ JSON


def as_json(records: Iterable[Record], damage: Iterable[dict] = (), view: Snapshot | None = None) -> str:
    """Machine-readable status (shape: ``data/status.schema.json``)."""
    records, damage = list(records), list(damage)
    view = view or Snapshot(records, damage)
    latest = {id(r) for r in current(records)}
    rows = [redact_value(_row(r, id(r) not in latest, view.progress.get(r.key))) for r in records]
    summary = {"deployments": len(rows), "failed": sum(1 for r in records if r.ok is False),
               "signals_pending": sum(1 for r in records if r.signal.state == SIGNAL_PENDING),
               "signals_failed": sum(1 for r in records if r.signal.state == SIGNAL_FAILED),
               "running": sum(1 for r in records if r.state != FINISHED),
               "quarantined": len(damage), "exit_code": exit_code(records, damage)}
    return json.dumps({"schema_version": SCHEMA_VERSION, "agent": _agent_json(view),
                       "deployments": rows, "quarantined": redact_value(damage), "summary": summary},
                      indent=2, sort_keys=True)


def _agent_json(view: Snapshot) -> dict:
    polling = view.polling
    if polling is None:
        return {"running": False, "polling": None}
    state = asdict(polling)
    for key in ("started_at", "first_poll_at", "failing_since", "last_poll_at", "last_success_at",
                "last_change_at", "last_error_at"):
        state[key] = iso_time(state[key])
    return {"running": view.agent_running, "polling": redact_value(state)}


def _row(record: Record, superseded: bool = False, progress: Progress | None = None) -> dict:
    row = asdict(record)
    for internal in ("pid_start", "boot_id"):  # for recovery only, not what happened
        row.pop(internal, None)
    for key in ("seen_at", "started_at", "finished_at"):
        row[key] = iso_time(row[key])
    row["signal"]["delivered_at"] = iso_time(row["signal"]["delivered_at"])
    row["signal"]["next_attempt_at"] = iso_time(row["signal"]["next_attempt_at"] or None)
    row["signal"]["deadline"] = iso_time(row["signal"]["deadline"] or None)
    for attempt in row["signal"].get("history", []):
        attempt["at"] = iso_time(attempt["at"])
    row["superseded"] = superseded
    row["progress"] = None if progress is None else {"elapsed": round(progress.elapsed, 3),
                                                     "last_output": progress.last_output}
    return row


# ------------------------------------------------------------------ people


def as_text(view: Snapshot) -> str:
    """The whole report for people: the agent's polling, the deployments, damaged files."""
    parts = [agent_lines(view), as_table(view.records, view.progress) if view.records else "no deployments known"]
    if view.damage:
        parts.append(damage_table(view.damage))
    return "\n\n".join(parts)


def agent_lines(view: Snapshot, now: float | None = None) -> str:
    """What the daemon is doing: the source it polls, its last good poll, its last error."""
    polling, now = view.polling, now or time.time()
    if polling is None:
        return "AGENT    no polling recorded: `stoker run` has not polled with this state directory"
    who = f"running (pid {polling.pid})" if view.agent_running else f"not running (last pid {polling.pid})"
    where = f"{polling.source} at {polling.endpoint}" if polling.source else "no metadata source yet"
    lines = [f"AGENT    {who}, polling {redact(where)} every {polling.interval:g}s"]
    good = _ago(polling.last_success_at, now)
    lines.append(f"{'':9}last good poll: {good or 'never'}; polls {polling.polls}, failed {polling.errors}")
    if polling.last_error:
        state = f"failing since {_ago(polling.failing_since, now)}" if polling.failing else \
            f"last error {_ago(polling.last_error_at, now)}"
        lines.append(f"{'':9}{state}: {redact(polling.last_error)}")
    return "\n".join(lines)


def as_table(records: Iterable[Record], progress: dict[str, Progress] | None = None) -> str:
    """A table for people: one line per deployment, the reason under failures."""
    records, progress = list(records), progress or {}
    latest = {id(r) for r in current(records)}
    lines = [f"{'RESULT':8} {'NAME':28} {'HEAT STACK/RESOURCE':32} {'GROUP':18} {'ACTION':8} "
             f"{'CODE':>4} {'TIME':>8}  SIGNAL"]
    for record in records:
        running = progress.get(record.key)
        took = running.elapsed if running else record.duration
        lines.append(f"{_result(record):8} {_cut(record.name or record.key, 28):28} "
                     f"{_cut(_heat_name(record), 32):32} {_cut(_group(record), 18):18} "
                     f"{_cut(record.action, 8):8} "
                     f"{'' if record.status_code is None else record.status_code:>4} "
                     f"{_duration(took):>8}  {_signal(record)}")
        lines.extend(_details(record, running, superseded=id(record) not in latest))
    return "\n".join(lines)


def _details(record: Record, running: Progress | None, superseded: bool) -> list[str]:
    """The lines under a deployment: why it failed, how its hook is getting on, its signal's trouble."""
    lines = []
    if record.reason:
        lines.append(f"{'':9}{redact(record.reason)}")
    if running is not None:
        lines.append(f"{'':9}running for {_duration(running.elapsed)}; last output: "
                     f"{_cut(running.last_output, 100) or '(none yet)'}")
    if record.ok is False or running is not None:
        lines.append(f"{'':9}id {record.id}")
    if superseded and record.ok is False:
        lines.append(f"{'':9}superseded by a later run of this deployment (does not count for the exit code)")
    if record.signal.last_error and record.signal.state != "delivered":
        lines.append(f"{'':9}signal: {redact(record.signal.last_error)}")
    return lines


def damage_table(damage: Iterable[dict]) -> str:
    """Damaged state files, for people: where each was and is, and what was wrong."""
    lines = ["DAMAGED STATE FILES"]
    for entry in damage:
        where = f"moved to {entry['moved_to']}" if entry.get("moved_to") else \
            "still in place: the agent sets it aside at its next start"
        lines.append(f"  {redact(entry['file'])}: {redact(entry['reason'])} ({where})")
    return "\n".join(lines)


def _heat_name(record: Record) -> str:
    if not record.resource:
        return "-"
    return f"{record.stack}/{record.resource}" if record.stack else record.resource


def _group(record: Record) -> str:
    """The group Heat sent; for a component, the tool of the entry that ran beside it."""
    if record.tool and record.tool != record.group:
        return f"{record.group} ({record.tool})"
    return record.group or record.tool


def _result(record: Record) -> str:
    if record.state != FINISHED:
        return "RUNNING"
    return "OK" if record.ok else "FAILED"


def _signal(record: Record) -> str:
    state = record.signal.state
    if state == "none":
        return "none owed (NO_SIGNAL)"
    text = f"{state} ({record.signal.transport}"
    if record.signal.attempts:
        text += f", {record.signal.attempts} attempt{'s' if record.signal.attempts > 1 else ''}"
    return text + ")"


def _when(record: Record) -> float:
    return record.started_at or record.seen_at or 0.0


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live stoker process (not a recycled pid of something else)."""
    if pid <= 0:
        return False
    try:
        return b"stoker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _ago(value: float | None, now: float) -> str:
    if not value:
        return ""
    return f"{iso_time(value)} ({_duration(max(0.0, now - value), whole=True)} ago)"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(seconds: float | None, whole: bool = False) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.0f}s" if whole else f"{seconds:.2f}s"


def iso_time(value: float | None) -> str | None:
    """A timestamp as ISO 8601 UTC; one no calendar can show (a damaged record's) as its number."""
    if not value:
        return None
    import datetime  # here, not at the top: the daemon imports this module and never formats a time

    try:
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OverflowError, OSError, ValueError):
        return str(value)

