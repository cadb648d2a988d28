"""The journal: the single owner of the agent's state on disk (docs/architecture.md, "the journal").

One record per deployment id (``<state>/journal/<key>.json``) says what
happened to it: started, finished (status code, timings) and where its signal
stands. Beside it, the upstream-compatible files that tools and support
scripts read: ``<deployed>/<key>.json`` (the item, 0600) and
``<deployed>/<key>.notify.json`` (the payload signalled). Records are written
*before* each step they describe, so that after a crash the next start knows
exactly what was interrupted. Every write is atomic (see :mod:`fsutil`).

Nothing in here raises because of what is on the disk: a damaged record is
set aside (quarantined) and listed in :attr:`Journal.damaged` for the
deployer to report; a write refused because the disk is full keeps the
record, item or payload in memory (:meth:`Journal.flush` writes it once space
returns) and raises :class:`DiskFull` only to callers that must not go on
without the write (a hook never starts unless its start is on disk).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import math
import os
import threading
import time
from dataclasses import MISSING as dataclasses_missing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator

from . import fsutil, statefile
from .metadata import Item
from .payload import status_code

LOG = logging.getLogger("stoker.journal")
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
RUNNING = "running"
FINISHED = "finished"

SIGNAL_NONE = "none"            # NO_SIGNAL: nothing is owed
SIGNAL_PENDING = "pending"      # waiting for a (first or next) delivery attempt
SIGNAL_DELIVERED = "delivered"
SIGNAL_FAILED = "failed"        # refused for good, or retried until the retry period ran out
SIGNAL_STATES = (SIGNAL_NONE, SIGNAL_PENDING, SIGNAL_DELIVERED, SIGNAL_FAILED)

# What one delivery attempt came to (``SignalState.history``).
ATTEMPT_DELIVERED = "delivered"
ATTEMPT_RETRY = "retry"          # a transient failure: tried again later
ATTEMPT_REFUSED = "refused"      # a final refusal: not tried again
ATTEMPT_GAVE_UP = "gave_up"      # a transient failure after the retry period ran out
ATTEMPT_OUTCOMES = (ATTEMPT_DELIVERED, ATTEMPT_RETRY, ATTEMPT_REFUSED, ATTEMPT_GAVE_UP)
HISTORY_LIMIT = 20               # attempts kept per signal: the first one and the latest ones


class DiskFull(OSError):
    """A state write was refused because the disk is full; the data is kept in memory."""


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
    # One entry per delivery attempt, oldest first: {"at", "outcome", "http_status", "error"}.
    # Bounded (HISTORY_LIMIT): the first attempt and the latest ones; ``attempts`` keeps the count.
    # Records written before it existed have none.
    history: list[dict[str, Any]] = field(default_factory=list)

    def with_attempt(self, at: float, outcome: str, http_status: int | None = None,
                     error: str = "") -> list[dict[str, Any]]:
        """The history with one more attempt, trimmed to :data:`HISTORY_LIMIT` entries."""
        entry = {"at": at, "outcome": outcome, "http_status": http_status, "error": error[:300]}
        history = [*self.history, entry]
        if len(history) > HISTORY_LIMIT:
            history = history[:1] + history[-(HISTORY_LIMIT - 1):]
        return history


@dataclass
class Record:
    """What happened to one deployment item.

    ``group`` is the group Heat sent (``component`` for a SoftwareComponent);
    ``tool`` is the group of the hook that ran, which for a component is the
    chosen entry's ``tool`` (Heat's own word for it). Both are keys of the
    journal files and of ``stoker status --json``, so they keep these names.
    """

    key: str      # the file-name-safe id: the id itself, or a digest of an odd one
    id: str
    name: str
    group: str
    action: str
    tool: str = ""
    stack: str = ""     # the names Heat shows: the stack's and the deployment resource's
    resource: str = ""
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
        """A record from its JSON; :class:`ValueError` saying what is wrong when the shape is not a record's."""
        problem = _shape_problem(value, cls, _RECORD_TYPES)
        signal = value.get("signal", {})
        problem = problem or (_shape_problem(signal, SignalState, _SIGNAL_TYPES) if isinstance(signal, dict)
                              else "its signal is not an object")
        if problem is None and value.get("state") not in (RUNNING, FINISHED):
            problem = f"its state {value.get('state')!r} is neither running nor finished"
        if problem is None and signal.get("state", SIGNAL_NONE) not in SIGNAL_STATES:
            problem = f"its signal state {signal.get('state')!r} is unknown"
        if problem is None:
            problem = _history_problem(signal.get("history", []))
        if problem:
            raise ValueError(problem)
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__ and k != "signal"}
        state = {k: v for k, v in signal.items() if k in SignalState.__dataclass_fields__}
        return cls(signal=SignalState(**state), **known)


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "key": (str,), "id": (str,), "name": (str,), "group": (str,), "action": (str,), "tool": (str,),
    "stack": (str,), "resource": (str,),
    "state": (str,), "seen_at": _NUMBER, "started_at": _OPTIONAL_NUMBER, "finished_at": _OPTIONAL_NUMBER,
    "duration": _OPTIONAL_NUMBER, "status_code": (int, type(None)), "ok": (bool, type(None)),
    "reason": (str,), "pid": (int, type(None)), "pid_start": (str, type(None)),
    "boot_id": (str, type(None)), "signal": (dict,),
}
_SIGNAL_TYPES: dict[str, tuple[type, ...]] = {
    "transport": (str,), "state": (str,), "attempts": (int,), "next_attempt_at": _NUMBER,
    "deadline": _NUMBER, "last_error": (str,), "http_status": (int, type(None)),
    "delivered_at": _OPTIONAL_NUMBER, "history": (list,),
}
_ATTEMPT_TYPES: dict[str, tuple[type, ...]] = {
    "at": _NUMBER, "outcome": (str,), "http_status": (int, type(None)), "error": (str,),
}


def _history_problem(history: list[Any]) -> str | None:
    """What makes a signal's attempt history not one, or None."""
    if len(history) > HISTORY_LIMIT:
        return f"its signal history has {len(history)} entries (at most {HISTORY_LIMIT})"
    for entry in history:
        if not isinstance(entry, dict):
            return f"its signal history holds a {type(entry).__name__}"
        missing = sorted(set(_ATTEMPT_TYPES) - set(entry))
        if missing:
            return f"an entry of its signal history lacks {', '.join(missing)}"
        for name, allowed in _ATTEMPT_TYPES.items():
            item = entry[name]
            if isinstance(item, bool) or not isinstance(item, allowed) or \
                    (isinstance(item, float) and not math.isfinite(item)):
                return f"an entry of its signal history has a {type(item).__name__} {name}"
        if entry["outcome"] not in ATTEMPT_OUTCOMES:
            return f"an entry of its signal history has the unknown outcome {entry['outcome']!r}"
    return None


def _shape_problem(value: dict[str, Any], kind: type, types: dict[str, tuple[type, ...]]) -> str | None:
    """What makes ``value`` not a valid ``kind`` (a dataclass), or None."""
    required = {f.name for f in fields(kind)
                if f.default is dataclasses_missing and f.default_factory is dataclasses_missing}
    missing = sorted(required - set(value))
    if missing:
        return f"it lacks {', '.join(missing)}"
    for name, allowed in types.items():
        if name not in value:
            continue
        item = value[name]
        wrong_bool = isinstance(item, bool) and bool not in allowed
        if wrong_bool or not isinstance(item, allowed) or \
                (isinstance(item, float) and not math.isfinite(item)):
            return f"its {name} is a {type(item).__name__}"
    return None


def _record_file_check(key: str):
    """The shape check of the record file of ``key``: an object naming that deployment.

    Its fields are checked by :meth:`Record.from_dict`, which :meth:`Journal._load` calls once.
    """
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"holds a JSON {type(value).__name__}, not a record"
        if value.get("key") != key:
            return f"names deployment {str(value.get('key'))[:80]!r}, not {key!r}"
        return None
    return check


@dataclass
class Damaged:
    """A journal record that could not be read at start: what is known of it."""

    key: str
    reason: str


class Journal:
    """Records for every deployment this agent has seen, kept in memory and on disk.

    ``writer``: whether this process holds (or will hold) the state lock and so
    may change files; read-only users (``stoker status``) only report damage.
    """

    def __init__(self, state_dir: Path, deployed_dir: Path, *, writer: bool = True) -> None:
        self.state_dir = state_dir
        self.dir = state_dir / "journal"
        self.deployed_dir = deployed_dir
        self.writer = writer
        self.quarantine = statefile.Quarantine(state_dir)
        self.damaged: list[Damaged] = []
        self._records: dict[str, Record] = {}
        self._unsaved: set[str] = set()           # records the disk refused
        self._unsaved_files: dict[Path, Any] = {}  # items and payloads the disk refused
        self._lock = threading.RLock()  # the outbox thread updates signal states
        # Called after every change of a record (saved or kept in memory), outside the lock:
        # the metrics file follows the journal this way. It must not raise.
        self.on_change: Callable[[Record], None] | None = None
        if writer:
            fsutil.ensure_dir(state_dir).chmod(0o700)
            fsutil.ensure_dir(self.dir)
        self._load()

    def _load(self) -> None:
        try:
            paths = sorted(self.dir.glob("*.json"))
        except OSError:
            paths = []
        for path in paths:
            value, problem = statefile.read(path, _record_file_check(path.stem))
            if value is not None:
                try:
                    self._records[path.stem] = Record.from_dict(value)
                except ValueError as err:
                    problem = f"is not a journal record: {err}"
            if problem is not None:
                self.damaged.append(Damaged(path.stem, f"journal record {problem}"))
                if self.writer:
                    self.quarantine.put(path, problem)

    # --------------------------------------------------------------- queries

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def records(self) -> list[Record]:
        """Every record, oldest first."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.seen_at, r.key))

    def interrupted(self) -> list[Record]:
        """Records of hooks that were running when the agent last stopped."""
        return [r for r in self.records() if r.state == RUNNING]

    def unsignalled(self) -> list[Record]:
        return [r for r in self.records() if r.state == FINISHED and r.signal.state == SIGNAL_PENDING]

    def item(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """The item as Heat sent it (for the signal's target and credentials), or what is wrong with it."""
        return self._read_file(self.deployed_dir / f"{key}.json", "its item")

    def payload(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """The payload recorded for signalling, or what is wrong with it."""
        return self._read_file(self.deployed_dir / f"{key}.notify.json", "its saved result")

    def _read_file(self, path: Path, what: str) -> tuple[dict[str, Any] | None, str | None]:
        with self._lock:
            if path in self._unsaved_files:
                return self._unsaved_files[path], None
        value, problem = statefile.read(path, statefile.expect_object)
        if problem is not None:
            if self.writer:
                self.quarantine.put(path, problem)
            return None, f"{what} {path.name} {problem}"
        if value is None:
            return None, f"{what} {path.name} is missing"
        return value, None

    def audit(self) -> int:
        """Read every record's item and saved result once, setting damaged ones aside; how many were.

        The lock holder does this at start, so that damage is reported (and
        shown by ``stoker status``) even for deployments nothing would read again.
        """
        damaged = 0
        for record in self.records():
            for reader in (self.item, self.payload):
                value, problem = reader(record.key)
                damaged += value is None and problem is not None and not problem.endswith("is missing")
        return damaged

    def find(self, ident: str) -> Record | None:
        """A record by id or key, else the newest record of that deployment name."""
        records = self.records()
        for record in records:
            if ident in (record.key, record.id):
                return record
        named = [r for r in records if r.name == ident]
        return named[-1] if named else None

    def has_unsaved(self) -> bool:
        with self._lock:
            return bool(self._unsaved or self._unsaved_files)

    # --------------------------------------------------------------- changes

    def begin(self, item: Item, tool: str, seen_at: float | None = None, pid: int | None = None) -> Record:
        """Record that ``item`` is about to run; from now on it is never run again by itself.

        ``seen_at``: when the document holding the item was fetched (default: now);
        earlier than the start when the item waited for others in the same document.
        ``pid``: the hook's wrapper, already started and waiting for this record to be
        on disk before it starts the hook (see :class:`runner.Launch`), so that one
        write records both.

        Raises :class:`DiskFull` when the start could not be put on disk: the
        record is then kept in memory (so the failure can still be signalled),
        and the hook must not run, since a restart would not know it had.
        """
        now = time.time()
        record = Record(key=item.key, id=item.id, name=item.name, group=item.group,
                        action=item.action, tool=tool, stack=item.stack_name,
                        resource=item.resource_name, seen_at=min(seen_at or now, now), started_at=now,
                        pid=pid, pid_start=process_start_time(pid) if pid else None, boot_id=current_boot_id())
        self._write_file(self.deployed_dir / f"{item.key}.json", item.raw)
        self._save(record)
        with self._lock:
            refused = record.key in self._unsaved or self.deployed_dir / f"{item.key}.json" in self._unsaved_files
        if refused:
            raise DiskFull(errno.ENOSPC, "the disk is full: the deployment's start could not be recorded")
        return record

    def finish(self, record: Record, payload: dict[str, Any], ok: bool, reason: str,
               signal: SignalState) -> bool:
        """Store the payload (before any attempt to send it) and the outcome; False when kept in memory only."""
        self._write_file(self.deployed_dir / f"{record.key}.notify.json", payload)
        record.finished_at = time.time()
        record.duration = record.finished_at - (record.started_at or record.finished_at)
        record.status_code = status_code(payload)
        record.ok = ok
        record.reason = reason
        record.state = FINISHED
        record.signal = signal
        record.pid = None
        return self._save(record)

    def update_signal(self, record: Record, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(record.signal, name, value)
        self._save(record)

    def forget(self, record: Record) -> None:
        """Drop every trace of a deployment so that it runs again when next seen."""
        with self._lock:
            self._records.pop(record.key, None)
            self._unsaved.discard(record.key)
            for path in (self.deployed_dir / f"{record.key}.json", self.deployed_dir / f"{record.key}.notify.json"):
                self._unsaved_files.pop(path, None)
        for path in (self.dir / f"{record.key}.json", self.deployed_dir / f"{record.key}.json",
                     self.deployed_dir / f"{record.key}.notify.json"):
            with contextlib.suppress(OSError):
                fsutil.remove(path)
        if self.on_change is not None:
            self.on_change(record)

    def request_rerun(self, record: Record) -> None:
        """Ask the agent holding the state (now or at its next poll) to forget ``record``."""
        requests = fsutil.ensure_dir(self.state_dir / "rerun")
        fsutil.atomic_write(requests / record.key, b"")

    def apply_rerun_requests(self) -> list[Record]:
        """Forget every record a ``stoker rerun`` asked for; only the lock holder calls this."""
        forgotten = []
        requests = self.state_dir / "rerun"
        try:
            paths = sorted(requests.glob("*")) if requests.is_dir() else []
        except OSError:
            paths = []
        for path in paths:
            record = self._records.get(path.name)
            if record is not None and record.state != RUNNING:
                self.forget(record)
                forgotten.append(record)
                LOG.info("deployment %s forgotten on request: it runs again when next seen",
                         record.name or record.key)
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()
                else:
                    fsutil.remove(path)
        return forgotten

    def flush(self) -> bool:
        """Write what the disk refused before; True when nothing is left in memory only."""
        with self._lock:
            files = list(self._unsaved_files.items())
            keys = list(self._unsaved)
        for path, value in files:
            self._write_file(path, value)
        for key in keys:
            record = self._records.get(key)
            if record is not None:
                self._save(record)
            else:
                with self._lock:
                    self._unsaved.discard(key)
        if not self.has_unsaved():
            if files or keys:
                LOG.info("disk space is back: %d record(s) and %d file(s) kept in memory are saved",
                         len(keys), len(files))
            return True
        return False

    def _write_file(self, path: Path, value: Any) -> None:
        try:
            fsutil.ensure_dir(path.parent)
            fsutil.write_json(path, value)
        except OSError as err:
            if not statefile.is_disk_full(err):
                raise
            with self._lock:
                first = not self._unsaved_files and not self._unsaved
                self._unsaved_files[path] = value
            if first:
                LOG.error("the disk is full (%s): keeping %s in memory until space returns", err.strerror, path)
        else:
            with self._lock:
                self._unsaved_files.pop(path, None)

    def _save(self, record: Record) -> bool:
        saved = self._save_locked(record)
        if self.on_change is not None:
            self.on_change(record)
        return saved

    def _save_locked(self, record: Record) -> bool:
        with self._lock:
            self._records[record.key] = record
            try:
                fsutil.write_json(self.dir / f"{record.key}.json", asdict(record))
            except OSError as err:
                if not statefile.is_disk_full(err):
                    raise
                if not self._unsaved and not self._unsaved_files:
                    LOG.error("the disk is full (%s): keeping the record of %s in memory until space "
                              "returns", err.strerror, record.name or record.key)
                self._unsaved.add(record.key)
                return False
            self._unsaved.discard(record.key)
            return True

    # ---------------------------------------------------------------- lock

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory for this process, or raise :class:`AgentBusy`."""
        path = self.state_dir / "lock"
        fd = self._open_lock(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise AgentBusy(f"another stoker (pid {owner}) is using {self.state_dir}") from None
                raise
            with contextlib.suppress(OSError):  # the pid is a courtesy to people; a full disk may refuse it
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def _open_lock(self, path: Path) -> int:
        """The lock file's descriptor; something else in its place (a directory, ...) is set aside first."""
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as err:
            if err.errno not in (errno.EISDIR, errno.ELOOP, errno.ENXIO, errno.EACCES):
                raise
            self.quarantine.put(path, f"is not a lock file ({err.strerror})")
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)


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
