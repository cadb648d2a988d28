"""Read the agent's own state files without ever raising, and set damaged ones aside.

The agent runs unattended as root; its state lives on a disk that can fill up,
be restored from a half-copied backup or be edited by hand. A state file that
cannot be read must not stop the agent (a crash at every start is the worst
failure an agent can have: nothing is signalled any more and every stack waits
for its timeout). So every read of a state file goes through :func:`read`,
which answers with the value, "missing", or what is wrong with it, and the
lock holder moves damaged files into ``<state>/quarantine/`` with the reason
beside them (:class:`Quarantine`), where ``stoker status`` shows them and an
operator can look at them.
"""
from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from . import fsutil, jsontools

LOG = logging.getLogger("stoker.state")
QUARANTINE_DIR = "quarantine"
REASON_SUFFIX = ".why"
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)

Check = Callable[[Any], "str | None"]


def is_disk_full(err: BaseException) -> bool:
    """Whether an error is the disk (or the quota) being full."""
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


def read(path: Path, check: Check | None = None) -> tuple[Any, str | None]:
    """``(value, None)``; ``(None, None)`` when the file is missing; ``(None, reason)`` when damaged.

    ``check`` returns what is wrong with a parsed value (its shape), or None.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"
    if not data.strip():
        return None, "is empty"
    try:
        value, cut = jsontools.loads_pruned(data)
    except jsontools.JSONInputError as err:
        return None, f"is not valid JSON ({_short(str(err))})"
    if cut:
        return None, "nests deeper than stoker ever writes"
    problem = check(value) if check is not None else None
    return (None, problem) if problem else (value, None)


def expect_object(value: Any) -> str | None:
    """A check for files that hold one JSON object."""
    return None if isinstance(value, dict) else f"holds a JSON {type(value).__name__}, not an object"


def _utc_stamp(now: float) -> str:
    """``20240131T120000.123456Z``: the time module's way, so that the daemon need not load ``datetime``."""
    whole, fraction = divmod(now, 1.0)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(whole)) + f".{min(int(fraction * 1e6), 999999):06d}Z"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Quarantine:
    """``<state>/quarantine/``: damaged state files, each with a ``.why`` file that says what was wrong."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / QUARANTINE_DIR

    def put(self, path: Path, reason: str) -> Path | None:
        """Move ``path`` aside (never raises); returns where it went, None when it could not be moved."""
        stamp = _utc_stamp(time.time())
        target = self.dir / f"{stamp}-{path.parent.name}-{path.name}"
        try:
            fsutil.ensure_dir(self.dir)
            os.replace(path, target)
        except OSError as err:
            LOG.error("state file %s %s, and it could not be moved aside (%s)", path, reason,
                      err.strerror or err)
            return None
        note = {"file": str(path), "reason": reason, "at": time.time(), "moved_to": str(target)}
        try:
            fsutil.write_json(target.with_name(target.name + REASON_SUFFIX), note)
        except OSError:
            pass  # the file is aside already; the log line below still says why
        LOG.error("state file %s %s: moved to %s", path, reason, target)
        return target

    def entries(self) -> list[dict[str, Any]]:
        """What is in quarantine, oldest first (read-only, never raises)."""
        try:
            notes = sorted(self.dir.glob("*" + REASON_SUFFIX))
        except OSError:
            return []
        entries = []
        for note in notes:
            value, _problem = read(note, expect_object)
            if value is not None:
                entries.append({"file": str(value.get("file", "")), "reason": str(value.get("reason", "")),
                                "at": value.get("at") if isinstance(value.get("at"), (int, float)) else None,
                                "moved_to": str(value.get("moved_to", ""))})
        return entries


def describe(entries: list[dict[str, Any]]) -> list[str]:
    """One line per quarantined file, for people."""
    return [f"{entry['file']} {entry['reason']} (kept as {entry['moved_to']})" for entry in entries]
