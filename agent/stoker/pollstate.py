"""How the daemon's polling stands, kept on disk for ``stoker status`` and the metrics file.

Before this file existed only the log said whether the agent was reaching Heat
at all; a template author looking at a deployment stuck IN_PROGRESS had to
find the journal lines. ``stoker run`` now writes ``<state>/polling.json``
after every poll: which source it polls (kind, where the setting came from,
the endpoint with secrets masked), the interval, when the last poll and the
last good poll were, and the last error with its time. Readers take it as it
is; it is a report, not state the agent needs to resume, so a damaged or
missing file is shown as "unknown" and never set aside.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from . import fsutil, statefile
from .redaction import redact

LOG = logging.getLogger("stoker.pollstate")
FILE_NAME = "polling.json"


@dataclass
class PollState:
    """The daemon's polling as of its last poll (times are Unix seconds)."""

    pid: int = 0
    started_at: float = 0.0
    source: str = ""          # the source kind: cfn, heat, request, zaqar, local
    origin: str = ""          # where its settings came from
    endpoint: str = ""        # the URL or path polled, secrets masked
    interval: float = 0.0     # the configured ceiling between polls, in seconds
    polls: int = 0
    first_poll_at: float | None = None   # when this agent first polled (``stoker analyze``)
    errors: int = 0           # failed polls since the agent started
    failing_since: float | None = None
    last_poll_at: float | None = None
    last_success_at: float | None = None
    last_change_at: float | None = None
    last_error: str = ""
    last_error_at: float | None = None

    @classmethod
    def started(cls, interval: float) -> "PollState":
        return cls(pid=os.getpid(), started_at=time.time(), interval=interval)

    def polled(self, error: str | None, changed: bool = False) -> None:
        """Count one poll: a success (``error`` None) or a failure saying why."""
        now = time.time()
        self.polls += 1
        self.last_poll_at = now
        if self.first_poll_at is None:
            self.first_poll_at = now
        if error is None:
            self.last_success_at = now
            self.failing_since = None
            if changed:
                self.last_change_at = now
            return
        self.errors += 1
        self.last_error, self.last_error_at = redact(error), now
        if self.failing_since is None:
            self.failing_since = now

    @property
    def failing(self) -> bool:
        return self.failing_since is not None


class PollStateFile:
    """``<state>/polling.json``: written by the daemon, read by anyone; writing never raises."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self._warned = False

    def save(self, state: PollState) -> None:
        """Replace the file; a full disk or any write error is logged once and otherwise ignored."""
        try:
            # A report rewritten at every poll: atomic, but not worth an fsync (like the metrics file).
            fsutil.write_json(self.path, asdict(state), durable=False)
        except OSError as err:
            if not self._warned:
                LOG.warning("cannot write %s (%s); `stoker status` will show stale polling state",
                            self.path, err.strerror or err)
            self._warned = True
        else:
            self._warned = False

    def load(self) -> PollState | None:
        """The last state the daemon wrote, or None when there is none (or it cannot be read)."""
        value, _problem = statefile.read(self.path, statefile.expect_object)
        if value is None:
            return None
        return _from_dict(value)


def _from_dict(value: dict[str, Any]) -> PollState | None:
    """Keep the fields whose type is right; a file with none of them is no state."""
    kept: dict[str, Any] = {}
    for spec in fields(PollState):
        if spec.name in value and _fits(value[spec.name], spec.default):
            kept[spec.name] = value[spec.name]
    return PollState(**kept) if kept else None


def _fits(item: Any, default: Any) -> bool:
    if item is None:
        return default is None
    if isinstance(item, bool):
        return False
    if isinstance(default, str):
        return isinstance(item, str)
    if isinstance(default, int) and not isinstance(default, bool) and not isinstance(default, float):
        return isinstance(item, int)
    return isinstance(item, (int, float))
