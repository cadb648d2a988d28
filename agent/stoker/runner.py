"""Run one hook as a child process (docs/architecture.md, "running a hook").

The item goes in on stdin; stdout and stderr go to files, not pipes, so a
script that leaves a daemon holding them open cannot hang the agent, and a
hook that prints gigabytes cannot fill its memory: only the tail (and at most
``STDOUT_LIMIT`` of the answer) is read back.

Those files live in the hook's *run directory*, ``<state>/work/<key>/``, and
the hook runs under a tiny ``sh`` wrapper that writes the wrapper's pid
(``pid``) before the hook starts and the hook's exit status (``status``)
when it ends. So what a hook did survives the agent: an agent killed while a
hook runs finds, when it starts again, either the hook's real result (the hook
finished meanwhile), the hook still running (it waits for it), or proof that
the hook never started; only a hook that was really cut off is "interrupted".

The wrapper starts a new session, and where cgroup v2 is writable it first
moves itself into a cgroup of its own (:mod:`hookcgroup`), so that a timeout
stops the hook *and* everything it started, even children that left the
process group with ``setsid``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import resource
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from . import fsutil, statefile
from .hookcgroup import HookCgroup, warm_up

LOG = logging.getLogger("stoker.runner")
STDOUT_LIMIT = 64 * 1024 * 1024
# Tells stoker's hooks where to capture their tool's output (``tool-stdout``, ``tool-stderr``), so
# that ``stoker status`` can show a running tool's last line (hooks/hookkit.py, ``run_tool``).
RUN_DIR_VARIABLE = "STOKER_RUN_DIR"
PROGRESS_FILES = ("stdout", "stderr", "tool-stdout", "tool-stderr")
STDERR_LIMIT = 1024 * 1024
GRACE_SECONDS = 10.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_STATUS = re.compile(rb"^[0-9]{1,3}\n$")  # what the wrapper's echo writes; anything else is damage
LOW_SPACE = 64 * 1024  # less free space than this after a hook means its output may be cut short
WRAPPER_NAME = "stoker-hook"
GO = b"go\n"  # what the agent writes on the wrapper's stdin once the hook's start is on disk
# $1: run directory, $2: the hook, $3: the hook's soft data limit (ulimit -d) or "". The wrapper waits
# at the gate (its stdin) until the agent has moved it into the hook's cgroup and recorded the start; an
# agent that dies first closes the gate, and the hook never starts. The pid is written before the hook
# starts and the status after it ends, so both tell a restarted agent what happened.
WRAPPER = (
    'if [ -n "$3" ]; then ulimit -S -d "$3" 2>/dev/null || :; fi\n'
    'read go && [ "$go" = go ] || exit 125\n'
    'echo $$ > "$1/pid" || exit 125\n'
    '"$2" < "$1/stdin" > "$1/stdout" 2> "$1/stderr"\n'
    'code=$?\n'
    'echo $code > "$1/status"\n'
    'exit $code\n'
)
_HOOK_DATA_LIMIT = resource.getrlimit(resource.RLIMIT_DATA)  # before the agent limits itself


def limit_agent_memory(megabytes: float) -> None:
    """Cap the agent's own memory (soft RLIMIT_DATA); hooks get the original limit back.

    A cgroup limit on the service would also bind the hooks, which share its
    cgroup and may legitimately need gigabytes; this guard binds only the agent.
    """
    if megabytes > 0:
        hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
        soft = int(megabytes * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_DATA, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def hook_data_limit() -> str:
    """The wrapper's ``ulimit -S -d`` argument that gives hooks back the data limit the agent had
    before it capped its own; "" when the agent did not cap it.

    The wrapper sets it rather than a ``preexec_fn``, which would run Python in the forked child
    of a threaded process and make subprocess fork instead of vfork (about 2 ms more a hook).
    Raising a soft limit up to the hard limit is always allowed.
    """
    soft = _HOOK_DATA_LIMIT[0]
    if resource.getrlimit(resource.RLIMIT_DATA)[0] == soft:
        return ""
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft // 1024)


@dataclass
class HookOutcome:
    """What happened to one hook process."""

    returncode: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_cut: int = 0
    stderr_cut: int = 0
    timed_out: bool = False
    timeout: float = 0.0
    start_error: str | None = None
    duration: float = 0.0
    disk_full: str | None = None


def run_hook(hook: Path, stdin: bytes, *, timeout: float, rundir: Path,
             env: Mapping[str, str] | None = None,
             on_start: Callable[[int | None], None] | None = None) -> HookOutcome:
    """Run ``hook`` with ``stdin`` in ``rundir``, wait at most ``timeout`` seconds, return what it did.

    ``on_start`` gets the wrapper's pid (None when it could not be started) before the hook starts;
    when it raises, the hook is not started and the exception is raised again.
    """
    launch = start_hook(hook, stdin, rundir=rundir, env=env)
    if on_start is not None:
        try:
            on_start(launch.pid)
        except BaseException:
            launch.abandon()
            raise
    return launch.run(timeout)


def start_hook(hook: Path, stdin: bytes, *, rundir: Path, env: Mapping[str, str] | None = None) -> "Launch":
    """Start the wrapper held at its gate, begin moving it into a cgroup of its own, and prepare ``rundir``.

    Making the cgroup and moving a process into it can wait for a kernel grace period (about
    10 ms when no move happened just before); that runs on a thread of its own from the moment
    the wrapper exists, while the caller records the start, rather than after.
    """
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", WRAPPER, WRAPPER_NAME, str(rundir), str(hook), hook_data_limit()],
            stdin=subprocess.PIPE, bufsize=0, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**hook_env(env), RUN_DIR_VARIABLE: str(rundir)}, cwd="/", start_new_session=True)
    except OSError as err:
        return Launch(rundir, started, failed=HookOutcome(start_error=err.strerror or str(err)))
    launch = Launch(rundir, started, process)
    try:
        prepare_rundir(rundir, stdin)  # the wrapper reads nothing there before its gate opens
    except OSError as err:
        launch.abandon()
        full = f"the disk is full ({err.strerror})" if statefile.is_disk_full(err) else None
        return Launch(rundir, started, failed=HookOutcome(
            start_error=f"cannot prepare its run directory {rundir}: {err.strerror or err}", disk_full=full))
    return launch


class Launch:
    """A hook's wrapper waiting at the gate: :meth:`run` starts the hook, :meth:`abandon` does not.

    The gate is the wrapper's stdin. Nothing but this object holds its other end (the pipe is
    close-on-exec), so if the agent dies before either call the wrapper reads end-of-file and
    exits without starting the hook: a hook never starts unless its start was recorded. It
    opens only once the wrapper is in the hook's cgroup, so everything the hook starts is too.
    """

    def __init__(self, rundir: Path, started: float, process: subprocess.Popen | None = None,
                 failed: HookOutcome | None = None) -> None:
        self.rundir = rundir
        self.started = started
        self.process = process
        self.cgroup: HookCgroup | None = None  # set by the thread below, read once it has ended
        self.failed = failed  # why the wrapper could not be started
        self._joining: threading.Thread | None = None
        if process is not None:
            self._joining = threading.Thread(target=self._join, name="stoker-cgroup-join", daemon=True)
            self._joining.start()

    @property
    def pid(self) -> int | None:
        """The wrapper's pid; None when it could not be started."""
        return self.process.pid if self.process is not None else None

    def run(self, timeout: float) -> HookOutcome:
        """Open the gate, wait at most ``timeout`` seconds for the hook, return what it did."""
        if self.process is None:
            assert self.failed is not None
            self.failed.duration = time.monotonic() - self.started
            return self.failed
        self._wait_for_cgroup()
        self._close_gate(GO)
        timed_out = _wait(self.process, timeout, self.cgroup)
        outcome = collect(self.rundir, self.process.returncode)
        outcome.timed_out, outcome.timeout = timed_out, timeout
        outcome.duration = time.monotonic() - self.started
        _remove_cgroup(self.cgroup)
        if self.cgroup is not None:  # after the rmdir, which would wait for it
            warm_up(self.cgroup.path.parent)  # for the next hook, while this one's result goes out
        return outcome

    def abandon(self) -> None:
        """Close the gate without starting the hook; the wrapper exits and its run directory goes."""
        if self.process is not None:
            self._wait_for_cgroup()
            self._close_gate(b"")
            self.process.wait()
            _remove_cgroup(self.cgroup)
        clear_rundir(self.rundir)

    def _join(self) -> None:
        """Make the hook's cgroup and move the wrapper in; without one, the process group alone stops the hook."""
        assert self.process is not None
        cgroup = None
        try:
            cgroup = HookCgroup.create(self.rundir.name)
            if cgroup is not None and cgroup.join(self.process.pid):
                self.cgroup = cgroup
                return
        except Exception:  # noqa: BLE001 - the process group is used instead
            LOG.exception("moving the hook's wrapper into a cgroup of its own failed")
        _remove_cgroup(cgroup)

    def _wait_for_cgroup(self) -> None:
        """Wait until the wrapper is in the hook's cgroup, or it is known that it will not be."""
        if self._joining is not None:
            self._joining.join()
            self._joining = None

    def _close_gate(self, word: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        with contextlib.suppress(OSError):  # a wrapper that died already: collect() says what it left
            if word:
                self.process.stdin.write(word)
            self.process.stdin.close()


def prepare_rundir(rundir: Path, stdin: bytes) -> None:
    """A fresh run directory holding the hook's input (anything left from before is removed)."""
    clear_rundir(rundir)
    rundir.mkdir(parents=True, mode=0o700)
    (rundir / "stdin").write_bytes(stdin)
    os.chmod(rundir / "stdin", 0o600)


def clear_rundir(rundir: Path) -> None:
    """Remove a run directory once its result is safely in the journal (never raises)."""
    fsutil.remove_tree(rundir)


def collect(rundir: Path, returncode: int | None, status: int | None = None) -> HookOutcome:
    """The outcome from the run directory's files; ``returncode`` from the wrapper when known.

    ``status``: the recorded exit status when the caller read it already.
    """
    status = recorded_status(rundir) if status is None else status
    code = status if status is not None else returncode
    if code is not None and code < 0:  # the wrapper itself was killed: report the signal
        code = 128 - code
    outcome = HookOutcome(returncode=code)
    outcome.stdout, outcome.stdout_cut = _read_tail(rundir / "stdout", STDOUT_LIMIT)
    outcome.stderr, outcome.stderr_cut = _read_tail(rundir / "stderr", STDERR_LIMIT)
    if returncode == 125 and status is None and not (rundir / "pid").exists():
        outcome.start_error = "its wrapper could not record the hook's start"
    outcome.disk_full = low_space(rundir)
    return outcome


def recorded_status(rundir: Path) -> int | None:
    """The hook's exit status as the wrapper recorded it, None when it has not (yet) or it is damaged."""
    return read_status(rundir)[0]


def read_status(rundir: Path) -> tuple[int | None, str | None]:
    """The recorded exit status, and what is wrong with a status file that exists but is damaged.

    ``(code, None)`` once the wrapper wrote it (digits and a newline, as its
    ``echo`` does); ``(None, None)`` while there is none; ``(None, reason)``
    for anything else, which only damage (or a torn write) leaves behind.
    """
    try:
        text = (rundir / "status").read_bytes()[:16]
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"
    if _STATUS.match(text):
        return int(text), None
    return None, "is empty" if not text else f"does not hold an exit status ({text[:8]!r})"


def recorded_pid(rundir: Path) -> int | None:
    """The wrapper's pid as it recorded it before starting the hook, None when it did not."""
    return _read_int(rundir / "pid")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_bytes()[:32].decode("ascii", errors="replace").strip()
        return int(text)
    except (OSError, ValueError):
        return None


def find_wrapper(rundir: Path) -> int | None:
    """The pid of a live wrapper running in ``rundir`` (found through /proc), None when there is none."""
    marker = str(rundir).encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 4 and argv[3] == WRAPPER_NAME.encode() and argv[4] == marker:
            return int(entry)
    return None


def low_space(path: Path) -> str | None:
    """A reason when the file system holding ``path`` is (nearly) full, else None."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < LOW_SPACE:
        return f"the disk is full (less than {LOW_SPACE // 1024} KiB free on the file system of {path})"
    return None


def _remove_cgroup(cgroup: HookCgroup | None) -> None:
    """Remove the hook's cgroup when it is empty (processes a hook left running keep it)."""
    if cgroup is not None and not cgroup.populated():
        cgroup.remove()


def hook_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The hook's environment: the agent's own (or the given one) with a usable PATH."""
    result = dict(os.environ if env is None else env)
    result.setdefault("PATH", DEFAULT_PATH)
    return result


def _wait(process: subprocess.Popen, timeout: float, cgroup: HookCgroup | None) -> bool:
    """Wait for the hook; on timeout stop everything it started, politely then firmly."""
    if exited_within(process, timeout):
        return False
    if cgroup is not None:
        cgroup.stop(GRACE_SECONDS)
    stop_group(process.pid, GRACE_SECONDS if cgroup is None else 0.0, lambda: process.poll() is not None)
    process.wait()
    return True


def exited_within(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``process`` to end; True (and reaped) when it did.

    The kernel wakes us the moment it ends, through a pidfd. ``Popen.wait``
    with a timeout polls instead, sleeping up to 50 ms between looks, which
    added about 25 ms to every hook (half a short hook's own time). Where
    there is no pidfd (kernels before 5.3), it is the fallback.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return _exited_within_polling(process, timeout)
    try:
        watch = select.poll()
        watch.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not watch.poll(max(0.0, min(deadline - time.monotonic(), 86400.0)) * 1000):
            if time.monotonic() >= deadline:
                return process.poll() is not None
    finally:
        os.close(pidfd)
    process.wait()
    return True


def _exited_within_polling(process: subprocess.Popen, timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def stop_group(pgid: int, grace: float, exited: Callable[[], bool]) -> None:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not exited():
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def last_output_line(rundir: Path, limit: int = 4096) -> str:
    """The last non-empty line a running hook or its tool printed (whichever file changed last).

    For ``stoker status``: the progress of a long hook without opening its files.
    """
    newest: list[tuple[float, str]] = []
    for name in PROGRESS_FILES:
        try:
            changed = (rundir / name).stat().st_mtime
        except OSError:
            continue
        tail, _cut = _read_tail(rundir / name, limit)
        lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines() if line.strip()]
        if lines:
            newest.append((changed, lines[-1]))
    return max(newest)[1] if newest else ""


def _read_tail(path: Path, limit: int) -> tuple[bytes, int]:
    """The last ``limit`` bytes of a file and how many bytes were cut before them (nothing when missing)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - limit)
            handle.seek(start)
            return handle.read(), start
    except OSError:
        return b"", 0
