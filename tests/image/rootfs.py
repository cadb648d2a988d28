"""Run things inside an extracted image tree: chroot commands and a systemd-nspawn boot.

Both share the host's network namespace, which is the point: the agent inside reaches
the loopback Heat stand-ins on the host's 127.0.0.1, and nothing else.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

# A plain root environment: nothing of the test process (its venv, its PYTHONPATH) leaks in.
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb",
}


class ImageRoot:
    """An extracted image: files in it, commands in it (chroot), the image's own view of paths."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __truediv__(self, inside: str) -> Path:
        """The host path of ``inside`` (an absolute path as the image sees it)."""
        return self.path / inside.lstrip("/")

    def write(self, inside: str, content: str | bytes, mode: int = 0o644) -> Path:
        """Write a file into the image, making its directories."""
        target = self / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        target.chmod(mode)
        return target

    def read_json(self, inside: str) -> Any:
        return json.loads((self / inside).read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def mounted(self) -> Iterator["ImageRoot"]:
        """/proc, /sys and /dev inside the tree, for the length of the block.

        Tools run by hooks need them (puppet's facter reads /proc and /sys, many things
        open /dev/null). Unmounted in reverse order even when the block fails, lazily if a
        straggler still holds one, so that a failed test never leaves mounts behind.
        """
        mounts = [(["-t", "proc", "proc"], "proc"), (["-t", "sysfs", "sysfs"], "sys"),
                  (["--bind", "/dev"], "dev"), (["-t", "devpts", "devpts", "-o", "newinstance"], "dev/pts")]
        done: list[Path] = []
        try:
            for args, where in mounts:
                target = self.path / where
                target.mkdir(parents=True, exist_ok=True)
                subprocess.run(["mount", *args, str(target)], check=True, timeout=30)
                done.append(target)
            yield self
        finally:
            for target in reversed(done):
                if subprocess.run(["umount", str(target)], timeout=30).returncode != 0:
                    subprocess.run(["umount", "-l", str(target)], timeout=30)

    def run(self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300,
            input: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` chrooted into the tree, as root, with a clean environment; capture output."""
        result = subprocess.run(["chroot", str(self.path), *argv], env={**CHROOT_ENV, **(env or {})},
                                input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} exited {result.returncode}\nstdout:\n{result.stdout}\n"
                                 f"stderr:\n{result.stderr}")
        return result


class BootedSystem:
    """A system booting in a child process that writes its console to a file.

    The subclasses say how to start and stop it (systemd-nspawn, qemu); waiting for
    something to happen, and failing with the console's tail when it does not, is shared.
    """

    what = "system"

    def __init__(self, console_log: Path) -> None:
        self.console_log = console_log
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def command(self) -> list[str]:
        raise NotImplementedError

    def output_log(self) -> Path:
        """Where the program's own stdout and stderr go (for nspawn, that is the console)."""
        return self.console_log

    def environment(self) -> dict[str, str] | None:
        """The program's environment (None: this process's)."""
        return None

    def start(self) -> "BootedSystem":
        self.console_log.touch()
        with open(self.output_log(), "ab") as out:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            env=self.environment())
        self.started = time.monotonic()
        return self

    def console(self) -> str:
        return self.console_log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float) -> float:
        """Wait until ``done()`` and return the seconds since start; fail with the console's
        tail if the system dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return time.monotonic() - self.started
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the {self.what} exited ({self.process.returncode}) before {what}:\n"
                                     + self.console()[-4000:])
            time.sleep(0.5)
        raise AssertionError(f"no {what} after {timeout:.0f}s; console tail:\n" + self.console()[-4000:])

    def stop(self, timeout: float = 60) -> None:
        """Send SIGTERM (each subclass's program shuts down on it); kill the group if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def __enter__(self) -> "BootedSystem":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class Boot(BootedSystem):
    """A systemd-nspawn boot of the tree (its own init, units and journal; the host's network).

    SIGTERM to nspawn asks the container's systemd to power off.
    """

    what = "container"

    def __init__(self, root: Path, console_log: Path) -> None:
        super().__init__(console_log)
        self.root = root

    def command(self) -> list[str]:
        # --register=no/--keep-unit: no machined on this host; no --private-network, so the
        # container shares the host's loopback. Without a tty the console is read-only.
        return ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", str(self.root), "-b"]
