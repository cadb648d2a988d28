"""Run one hook as a child process (ARCHITECTURE step 4).

The item goes in on stdin; stdout and stderr go to files, not pipes, so a
script that leaves a daemon holding them open cannot hang the agent, and a
hook that prints gigabytes cannot fill its memory: only the tail (and at most
``STDOUT_LIMIT`` of the answer) is read back. The hook runs in its own process
group so that a timeout stops the hook *and* everything it started.
"""
from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

STDOUT_LIMIT = 64 * 1024 * 1024
STDERR_LIMIT = 1024 * 1024
GRACE_SECONDS = 10.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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


def _unlimit_hook() -> None:
    """In the hook's child process, before exec: undo the agent's own memory cap."""
    resource.setrlimit(resource.RLIMIT_DATA, _HOOK_DATA_LIMIT)


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


def run_hook(hook: Path, stdin: bytes, *, timeout: float, scratch: Path,
             env: Mapping[str, str] | None = None,
             on_start: Callable[[int], None] | None = None) -> HookOutcome:
    """Run ``hook`` with ``stdin``, wait at most ``timeout`` seconds, return what it did."""
    started = time.monotonic()
    with _scratch_file(scratch, stdin) as in_file, _scratch_file(scratch) as out_file, \
            _scratch_file(scratch) as err_file:
        try:
            process = subprocess.Popen([str(hook)], stdin=in_file, stdout=out_file, stderr=err_file,
                                       env=hook_env(env), cwd="/", start_new_session=True,
                                       preexec_fn=_unlimit_hook)
        except OSError as err:
            return HookOutcome(start_error=err.strerror or str(err), duration=time.monotonic() - started)
        if on_start is not None:
            on_start(process.pid)
        timed_out = _wait(process, timeout)
        outcome = HookOutcome(returncode=process.returncode, timed_out=timed_out, timeout=timeout)
        outcome.stdout, outcome.stdout_cut = _read_tail(out_file, STDOUT_LIMIT)
        outcome.stderr, outcome.stderr_cut = _read_tail(err_file, STDERR_LIMIT)
    outcome.duration = time.monotonic() - started
    return outcome


def hook_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The hook's environment: the agent's own (or the given one) with a usable PATH."""
    result = dict(os.environ if env is None else env)
    result.setdefault("PATH", DEFAULT_PATH)
    return result


def _wait(process: subprocess.Popen, timeout: float) -> bool:
    """Wait for the hook; on timeout stop its whole process group, politely then firmly."""
    try:
        process.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        pass
    stop_group(process.pid, GRACE_SECONDS, lambda: process.poll() is not None)
    process.wait()
    return True


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


@contextlib.contextmanager
def _scratch_file(directory: Path, content: bytes | None = None):
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryFile(dir=directory) as handle:
        if content is not None:
            handle.write(content)
            handle.flush()
            handle.seek(0)
        yield handle


def _read_tail(handle, limit: int) -> tuple[bytes, int]:
    """The last ``limit`` bytes and how many bytes were cut before them."""
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - limit)
    handle.seek(start)
    return handle.read(), start
