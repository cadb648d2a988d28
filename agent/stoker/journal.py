"""The journal: the single owner of the agent's state on disk (ARCHITECTURE step 6).

One record per deployment id (``<state>/journal/<key>.json``) says what
happened to it: started, finished (status code, timings) and where its signal
stands. Beside it, the upstream-compatible files that tools and support
scripts read: ``<deployed>/<key>.json`` (the item, 0600) and
``<deployed>/<key>.notify.json`` (the payload signalled). Records are written
*before* each step they describe, so that after a crash the next start knows
exactly what was interrupted. Every write is atomic (see :mod:`fsutil`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import fsutil
from .metadata import Item
from .payload import status_code

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
RUNNING = "running"
FINISHED = "finished"

SIGNAL_NONE = "none"            # NO_SIGNAL: nothing is owed
SIGNAL_PENDING = "pending"      # waiting for a (first or next) delivery attempt
SIGNAL_DELIVERED = "delivered"
SIGNAL_FAILED = "failed"        # refused for good, or retried until the retry period ran out


class AgentBusy(RuntimeError):
    """Another stoker process holds the state directory."""


@dataclass
class SignalState:
    """Where a deployment's signal stands."""

    transport: str = "NO_SIGNAL"
    state: str = SIGNAL_NONE
    attempts: int = 0
    next_attempt_at: float = 0.0
    deadline: float = 0.0
    last_error: str = ""
    http_status: int | None = None
    delivered_at: float | None = None


@dataclass
class Record:
    """What happened to one deployment item."""

    key: str
    id: str
    name: str
    group: str
    action: str
    tool: str = ""
    state: str = RUNNING
    seen_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    duration: float | None = None
    status_code: int | None = None
    ok: bool | None = None
    reason: str = ""
    pid: int | None = None
    pid_start: str | None = None
    boot_id: str | None = None
    signal: SignalState = field(default_factory=SignalState)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> "Record":
        signal = SignalState(**value.pop("signal", {}))
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        return cls(signal=signal, **known)


class Journal:
    """Records for every deployment this agent has seen, kept in memory and on disk."""

    def __init__(self, state_dir: Path, deployed_dir: Path) -> None:
        fsutil.ensure_dir(state_dir).chmod(0o700)
        self.dir = fsutil.ensure_dir(state_dir / "journal")
        self.state_dir = state_dir
        self.deployed_dir = deployed_dir
        self._records: dict[str, Record] = {}
        self._lock = threading.RLock()  # the outbox thread updates signal states
        for path in self.dir.glob("*.json"):
            value = fsutil.read_json(path)
            if isinstance(value, dict) and value.get("key") == path.stem:
                self._records[path.stem] = Record.from_dict(value)

    # --------------------------------------------------------------- queries

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def knows(self, key: str) -> bool:
        """Whether this id was ever started here (and so must never run again by itself)."""
        return key in self._records

    def records(self) -> list[Record]:
        """Every record, oldest first."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.seen_at, r.key))

    def interrupted(self) -> list[Record]:
        """Records of hooks that were running when the agent last stopped."""
        return [r for r in self.records() if r.state == RUNNING]

    def unsignalled(self) -> list[Record]:
        return [r for r in self.records() if r.state == FINISHED and r.signal.state == SIGNAL_PENDING]

    def item(self, key: str) -> dict[str, Any] | None:
        """The item as Heat sent it (for the signal's target and credentials)."""
        return fsutil.read_json(self.deployed_dir / f"{key}.json")

    def payload(self, key: str) -> dict[str, Any] | None:
        return fsutil.read_json(self.deployed_dir / f"{key}.notify.json")

    def find(self, ident: str) -> Record | None:
        """A record by id, key or (unique) deployment name."""
        for record in self._records.values():
            if ident in (record.key, record.id):
                return record
        named = [r for r in self._records.values() if r.name == ident]
        return named[-1] if named else None

    # --------------------------------------------------------------- changes

    def begin(self, item: Item, tool: str) -> Record:
        """Record that ``item`` is about to run; from now on it is never run again by itself."""
        fsutil.ensure_dir(self.deployed_dir)
        fsutil.write_json(self.deployed_dir / f"{item.key}.json", item.raw)
        now = time.time()
        record = Record(key=item.key, id=item.id, name=item.name, group=item.group,
                        action=item.action, tool=tool, seen_at=now, started_at=now,
                        boot_id=current_boot_id())
        self._save(record)
        return record

    def set_pid(self, record: Record, pid: int) -> None:
        record.pid = pid
        record.pid_start = process_start_time(pid)
        self._save(record)

    def finish(self, record: Record, payload: dict[str, Any], ok: bool, reason: str,
               signal: SignalState) -> None:
        """Store the payload (before any attempt to send it) and the outcome."""
        fsutil.write_json(self.deployed_dir / f"{record.key}.notify.json", payload)
        record.finished_at = time.time()
        record.duration = record.finished_at - (record.started_at or record.finished_at)
        record.status_code = status_code(payload)
        record.ok = ok
        record.reason = reason
        record.state = FINISHED
        record.signal = signal
        record.pid = None
        self._save(record)

    def update_signal(self, record: Record, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(record.signal, name, value)
        self._save(record)

    def forget(self, record: Record) -> None:
        """Drop every trace of a deployment so that it runs again when next seen."""
        with self._lock:
            self._records.pop(record.key, None)
        fsutil.remove(self.dir / f"{record.key}.json")
        fsutil.remove(self.deployed_dir / f"{record.key}.json")
        fsutil.remove(self.deployed_dir / f"{record.key}.notify.json")

    def request_rerun(self, record: Record) -> None:
        """Ask the agent holding the state (now or at its next start) to forget ``record``."""
        requests = fsutil.ensure_dir(self.state_dir / "rerun")
        fsutil.atomic_write(requests / record.key, b"")

    def apply_rerun_requests(self) -> list[Record]:
        """Forget every record a ``stoker rerun`` asked for; only the lock holder calls this."""
        forgotten = []
        requests = self.state_dir / "rerun"
        for path in sorted(requests.glob("*")) if requests.is_dir() else []:
            record = self._records.get(path.name)
            if record is not None and record.state != RUNNING:
                self.forget(record)
                forgotten.append(record)
            fsutil.remove(path)
        return forgotten

    def _save(self, record: Record) -> None:
        with self._lock:
            self._records[record.key] = record
            fsutil.write_json(self.dir / f"{record.key}.json", asdict(record))

    # ---------------------------------------------------------------- lock

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory for this process, or raise :class:`AgentBusy`."""
        path = self.state_dir / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise AgentBusy(f"another stoker (pid {owner}) is using {self.state_dir}") from None
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)


@functools.cache
def current_boot_id() -> str | None:
    """The kernel's id of this boot (None where there is no /proc).

    A running record from another boot names a hook that the reboot ended: its pid
    may belong to an unrelated process now, even one with the same start time.
    """
    try:
        with open(BOOT_ID_FILE, encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid``, to tell it from a later process reusing the number."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def process_running(pid: int, start: str | None) -> bool:
    """Whether ``pid`` is still the process that started at ``start`` and has not exited.

    An exited child that nobody reaped yet (a zombie, e.g. under an init that
    does not reap orphans) still has a start time but is no longer running.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().decode(errors="replace").rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X") and fields[19] == start
