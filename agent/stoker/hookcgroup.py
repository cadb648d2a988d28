"""Run each hook in its own cgroup v2, so a timeout stops everything it started.

A process group is not enough: a hook's child that calls ``setsid`` leaves
the group and survives ``killpg``. Nothing can leave a cgroup without
writing to ``cgroup.procs`` elsewhere, so a hook in its own child cgroup
can be stopped whole. Where cgroup v2 is missing, read-only or refuses to
move processes, ``HookCgroup.create`` answers ``None`` and the runner keeps
using the process group.

The child cgroups live under the agent's own cgroup (what systemd delegates
with ``Delegate=yes``). No controllers are enabled there, so cgroup v2's
"no internal processes" rule does not stop the agent staying in the parent
while hooks sit in the children.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
SELF_CGROUP = Path("/proc/self/cgroup")
PREFIX = "stoker-hook-"
NAME_LIMIT = 100
KILL_FILE = "cgroup.kill"
FREEZE_FILE = "cgroup.freeze"
POLL_SECONDS = 0.02
KILL_SECONDS = 5.0
FALLBACK_REASON = "cgroup v2 not writable here"

# errnos that mean "this cgroup tree will never take our processes", as
# opposed to ESRCH (that one process is gone) or ENOENT (that one cgroup is).
_REFUSALS = {errno.EBUSY, errno.EOPNOTSUPP, errno.EACCES, errno.EPERM, errno.EROFS}
# Per parent cgroup: True once a process was moved under it, False once refused.
_verdicts: dict[Path, bool] = {}
_refusal: str | None = None


class HookCgroup:
    """One hook's cgroup: a directory under the agent's own cgroup."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"HookCgroup({str(self.path)!r})"

    @classmethod
    def create(cls, name: str) -> HookCgroup | None:
        """A new empty cgroup for one hook, or ``None`` where cgroups cannot hold hooks."""
        try:
            return cls._create(name)
        except (OSError, ValueError, subprocess.SubprocessError) as err:
            _refuse(f"cgroup v2 unusable: {err}")
            return None

    @classmethod
    def _create(cls, name: str) -> HookCgroup | None:
        base = own_cgroup()
        if base is None or _verdicts.get(base) is False:
            return None
        cgroup = cls(_make_unique_dir(base, PREFIX + sanitise(name)))
        verdict = _verdicts.get(base) or cgroup._probe()
        if verdict:
            _verdicts[base] = True
            return cgroup
        cgroup.remove()
        if verdict is False:
            _verdicts[base] = False
            _refuse(f"cannot move processes into cgroups under {base}")
        return None

    @property
    def procs_file(self) -> Path:
        """Where a process's pid is written to move it into this cgroup."""
        return self.path / "cgroup.procs"

    def join(self, pid: int) -> bool:
        """Move ``pid`` into this cgroup; False when the kernel refuses.

        A refusal that says the whole tree is unusable is remembered, so the
        next ``create`` answers ``None`` and the runner falls back at once.
        """
        try:
            _write_pid(self.procs_file, pid)
            return True
        except OSError as err:
            if err.errno in _REFUSALS:
                _verdicts[self.path.parent] = False
                _refuse(f"cannot move processes into {self.path}: {err.strerror}")
            return False

    def pids(self) -> list[int]:
        """Every process in the cgroup now; empty when it cannot be read."""
        try:
            text = self.procs_file.read_text()
        except OSError:
            return []
        return [int(word) for word in text.split()]

    def populated(self) -> bool:
        """Whether any process is still in the cgroup (``cgroup.events`` knows without listing)."""
        try:
            events = (self.path / "cgroup.events").read_text()
        except OSError:
            return bool(self.pids())
        for line in events.splitlines():
            key, _, value = line.partition(" ")
            if key == "populated":
                return value.strip() != "0"
        return bool(self.pids())

    def stop(self, grace: float) -> None:
        """SIGTERM everything, wait up to ``grace`` seconds, then kill whatever is left."""
        self._signal_all(signal.SIGTERM)
        if self._wait_empty(grace):
            return
        if not self._kill_at_once():
            self._kill_each()
        self._wait_empty(KILL_SECONDS)

    def remove(self) -> None:
        """Delete the cgroup if it is empty; a leftover is swept at the next start."""
        with contextlib.suppress(OSError):
            self.path.rmdir()

    def _probe(self) -> bool | None:
        """Move a throwaway child in: the only sure test that the kernel allows it.

        ``None`` when no child could be started, which says nothing about cgroups.
        """
        try:
            child = subprocess.Popen(_probe_command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as err:
            _refuse(f"cannot start a process to test cgroups: {err.strerror}")
            return None
        try:
            return self.join(child.pid) and child.pid in self.pids()
        finally:
            child.kill()
            child.wait()

    def _signal_all(self, sig: signal.Signals) -> None:
        me = os.getpid()
        for pid in self.pids():
            if pid != me:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    def _wait_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.populated():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def _kill_at_once(self) -> bool:
        """SIGKILL the whole cgroup in one kernel call, which no fork can race."""
        kill_file = self.path / KILL_FILE
        if not kill_file.exists() or os.getpid() in self.pids():
            return False
        try:
            kill_file.write_text("1")
            return True
        except OSError:
            return False

    def _kill_each(self) -> None:
        """Older kernels: freeze (so nothing forks), SIGKILL pid by pid until empty, bounded."""
        frozen = _write_quietly(self.path / FREEZE_FILE, "1")
        try:
            deadline = time.monotonic() + KILL_SECONDS
            while self.populated() and time.monotonic() < deadline:
                self._signal_all(signal.SIGKILL)
                time.sleep(POLL_SECONDS)
        finally:
            if frozen:
                _write_quietly(self.path / FREEZE_FILE, "0")


def warm_up(own: Path) -> threading.Thread:
    """Make the kernel ready for the next hook's move into its cgroup, on a thread of its own.

    The first move into any cgroup after a quiet spell waits for an RCU grace period (about
    10 ms; the cgroup2 mount option ``favordynmods`` removes that wait), and moves that follow
    soon after do not. Called as a hook ends: moving the agent into ``own``, the cgroup it is
    already in, changes nothing but pays that wait while the hook's result is recorded and
    signalled, so the next hook's wrapper, a few milliseconds later, is moved without it.
    Errors are ignored: the next move then simply waits itself. The thread is returned for tests.
    """
    def move_self() -> None:
        with contextlib.suppress(OSError):
            _write_pid(own / "cgroup.procs", os.getpid())
    thread = threading.Thread(target=move_self, name="stoker-cgroup-warm-up", daemon=True)
    thread.start()
    return thread


def describe_mode(cgroup: HookCgroup | None) -> str:
    """How hooks are contained, in one phrase for the agent's log."""
    if cgroup is not None:
        return f"each hook in its own cgroup under {cgroup.path.parent}"
    return f"hooks in their own process group ({_refusal or FALLBACK_REASON})"


def sweep_empty(prefix: str = PREFIX) -> int:
    """Remove empty ``prefix*`` cgroups a crashed agent left under ours; how many went.

    rmdir refuses a cgroup that still holds processes, so a hook that is
    still running (or survived the crash) keeps its cgroup.
    """
    base = own_cgroup()
    if base is None:
        return 0
    removed = 0
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            if entry.name.startswith(prefix) and entry.is_dir():
                with contextlib.suppress(OSError):
                    entry.rmdir()
                    removed += 1
    return removed


def sanitise(name: str) -> str:
    """A hook name that is safe as one path component."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:NAME_LIMIT] or "hook"


def own_cgroup() -> Path | None:
    """The directory of this process's cgroup v2, or ``None`` when it cannot hold hook cgroups."""
    relative = _own_cgroup_path()
    if relative is None:
        return _refuse("this process is in no cgroup v2 hierarchy")
    mounts = [mount for mount in _cgroup2_mounts() if _under(relative, mount[1]) is not None]
    if not mounts:
        return _refuse("no cgroup2 mount")
    writable = [mount for mount in mounts if "ro" not in mount[2]]
    if not writable:
        return _refuse(f"cgroup2 is mounted read-only at {mounts[0][0]}")
    point, root, _ = writable[0]
    base = point / _under(relative, root)
    if not base.is_dir() or not os.access(base, os.W_OK):
        return _refuse(f"{base} is not a writable directory")
    return base


def _own_cgroup_path() -> str | None:
    """The "0::/path" line of /proc/self/cgroup: where we sit in the v2 hierarchy."""
    try:
        lines = SELF_CGROUP.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::/"):
            path = line[3:]
            return None if path.endswith(" (deleted)") else path
    return None


def _cgroup2_mounts() -> list[tuple[Path, str, set[str]]]:
    """(mount point, root inside the hierarchy, options) of every cgroup2 mount."""
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        separator = fields.index("-", 6)
        if fields[separator + 1:separator + 2] != ["cgroup2"]:
            continue
        options = set(fields[5].split(","))
        options |= set(fields[separator + 3].split(",")) if len(fields) > separator + 3 else set()
        mounts.append((Path(_unescape(fields[4])), _unescape(fields[3]), options))
    return mounts


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as three octal digits."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _under(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (both absolute), or ``None`` when it is outside."""
    if root == "/":
        return path.lstrip("/")
    if path == root:
        return ""
    if path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1:]
    return None


def _make_unique_dir(base: Path, name: str) -> Path:
    """mkdir ``base/name``, or ``name`` plus a random suffix when a leftover has that name."""
    candidate = base / name
    for _ in range(8):
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            candidate = base / f"{name}-{os.urandom(4).hex()}"
    raise OSError(errno.EEXIST, "no free cgroup name", str(base / name))


def _probe_command() -> list[str]:
    """A child that blocks on stdin until killed; any executable will do."""
    if sys.executable:
        return [sys.executable, "-c", "import sys; sys.stdin.read()"]
    return ["/bin/sh", "-c", "read line"]


def _write_pid(procs_file: Path, pid: int) -> None:
    """One write(2) of the pid: the kernel moves the process as it takes the write."""
    fd = os.open(procs_file, os.O_WRONLY)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)


def _write_quietly(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError:
        return False


def _refuse(reason: str) -> None:
    """Remember why cgroups are not used, for ``describe_mode``; always ``None``."""
    global _refusal
    _refusal = reason
    return None
