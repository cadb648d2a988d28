"""Durable, private file writes: the only way stoker puts state on disk.

Every write is temp file + fsync + rename (+ fsync of the directory), so a
crash or a power cut leaves either the old file or the new one, never a torn
or stale one. Files are 0600 and directories 0700 by default because
deployment items carry credentials.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) if it is missing."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def atomic_write(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see all of it or none of it.

    ``durable=False`` skips the fsyncs, for reports rewritten often that a power
    cut may lose (the metrics file): readers still never see a torn file.
    """
    ensure_dir(path.parent)
    fd, tmp = _create_temp(path.parent, path.name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def _create_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new file of our own beside ``name``: exclusive, 0600, not inherited by hooks.

    What ``tempfile.mkstemp`` does, without importing ``tempfile`` (and with it
    ``shutil``, ``random``, ``bz2`` and ``lzma``) into the idle daemon: about 1.3 MB.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {os.path.join(directory, name)}")


def write_json(path: Path, value: Any, mode: int = 0o600, durable: bool = True) -> None:
    """Atomically write ``value`` as JSON (``durable``: as :func:`atomic_write`)."""
    atomic_write(path, json.dumps(value, sort_keys=True).encode("utf-8"), mode, durable)


def read_json(path: Path) -> Any:
    """Load a JSON file; ``None`` when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def remove(path: Path) -> None:
    """Delete a file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_tree(path: Path) -> None:
    """``rm -rf path``, never raising and never following a symbolic link out of the tree.

    ``shutil.rmtree`` does the same, but importing ``shutil`` loads zlib, bz2
    and lzma, which the resident daemon would then carry for good (it clears a
    hook's run directory after every deployment). ``os.fwalk`` works on
    directory descriptors and, without ``follow_symlinks``, does not descend
    into a link; a link (to a directory or not) is unlinked, not followed.
    """
    with contextlib.suppress(OSError):
        for _where, subdirs, files, dir_fd in os.fwalk(path, topdown=False):  # dir_fd: valid this step only
            for name in files:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
            for name in subdirs:
                try:
                    os.rmdir(name, dir_fd=dir_fd)
                except NotADirectoryError:  # a symbolic link to a directory
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=dir_fd)
                except OSError:
                    pass
    try:
        os.rmdir(path)
    except NotADirectoryError:
        with contextlib.suppress(OSError):
            os.unlink(path)
    except OSError:
        pass


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
