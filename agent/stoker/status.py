"""What happened on this machine, for people and scripts (``stoker status``, command summaries).

Built from the journal only, and redacted: nothing here may show a password,
token or signed URL. :func:`exit_code` sums records up with the codes of
:mod:`stoker.exitcodes`, the one table of the command's exit codes.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from typing import Iterable

from .exitcodes import FAILED, OK, PENDING, UNDELIVERABLE
from .journal import FINISHED, SIGNAL_FAILED, SIGNAL_PENDING, Journal, Record
from .redaction import redact, redact_value


def exit_code(records: Iterable[Record], damage: Iterable[dict] = ()) -> int:
    """The exit code that sums up these records: of 1 to 4 in :mod:`stoker.exitcodes`, the first
    that applies in the order 1, 4, 3 (2 is decided before there are records).

    A damaged state file the agent has not dealt with yet counts as a failure;
    once quarantined, the failure it caused is in the records.
    """
    records = list(records)
    if any(r.state == FINISHED and r.ok is False for r in records) or \
            any(not entry.get("moved_to") for entry in damage):
        return FAILED
    if any(r.signal.state == SIGNAL_FAILED for r in records):
        return UNDELIVERABLE
    if any(r.state != FINISHED or r.signal.state == SIGNAL_PENDING for r in records):
        return PENDING
    return OK


def damage_report(journal: Journal) -> list[dict]:
    """Damaged state files: those in quarantine, and (read-only views) those still in place."""
    entries = [dict(entry, at=_iso(entry["at"])) for entry in journal.quarantine.entries()]
    for damaged in journal.damaged:
        entries.append({"file": str(journal.dir / f"{damaged.key}.json"), "reason": damaged.reason,
                        "at": None, "moved_to": ""})
    return entries


def as_json(records: Iterable[Record], damage: Iterable[dict] = ()) -> str:
    """Machine-readable status: one object per deployment, damaged state files, and a summary."""
    records, damage = list(records), list(damage)
    rows = [redact_value(_row(r)) for r in records]
    summary = {"deployments": len(rows), "failed": sum(1 for r in records if r.ok is False),
               "signals_pending": sum(1 for r in records if r.signal.state == SIGNAL_PENDING),
               "signals_failed": sum(1 for r in records if r.signal.state == SIGNAL_FAILED),
               "quarantined": len(damage), "exit_code": exit_code(records, damage)}
    return json.dumps({"deployments": rows, "quarantined": redact_value(damage), "summary": summary},
                      indent=2, sort_keys=True)


def damage_table(damage: Iterable[dict]) -> str:
    """Damaged state files, for people: where each was and is, and what was wrong."""
    lines = ["DAMAGED STATE FILES"]
    for entry in damage:
        where = f"moved to {entry['moved_to']}" if entry.get("moved_to") else \
            "still in place: the agent sets it aside at its next start"
        lines.append(f"  {redact(entry['file'])}: {redact(entry['reason'])} ({where})")
    return "\n".join(lines)


def _row(record: Record) -> dict:
    row = asdict(record)
    for internal in ("pid_start", "boot_id"):  # for recovery only, not what happened
        row.pop(internal, None)
    for key in ("seen_at", "started_at", "finished_at"):
        row[key] = _iso(row[key])
    row["signal"]["delivered_at"] = _iso(row["signal"]["delivered_at"])
    row["signal"]["next_attempt_at"] = _iso(row["signal"]["next_attempt_at"] or None)
    row["signal"]["deadline"] = _iso(row["signal"]["deadline"] or None)
    return row


def as_table(records: Iterable[Record]) -> str:
    """A table for people: one line per deployment, the reason under failures."""
    lines = [f"{'RESULT':8} {'NAME':28} {'GROUP':12} {'ACTION':8} {'CODE':>4} {'TIME':>8}  SIGNAL"]
    for record in records:
        lines.append(f"{_result(record):8} {_cut(record.name or record.key, 28):28} "
                     f"{_cut(record.tool or record.group, 12):12} {_cut(record.action, 8):8} "
                     f"{'' if record.status_code is None else record.status_code:>4} "
                     f"{_duration(record.duration):>8}  {_signal(record)}")
        if record.reason:
            lines.append(f"{'':8} {redact(record.reason)}")
        if record.signal.last_error and record.signal.state != "delivered":
            lines.append(f"{'':8} signal: {redact(record.signal.last_error)}")
    return "\n".join(lines)


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


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f}s"


def _iso(value: float | None) -> str | None:
    """A timestamp as ISO 8601 UTC; one no calendar can show (a damaged record's) as its number."""
    if not value:
        return None
    try:
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OverflowError, OSError, ValueError):
        return str(value)
