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
import tempfile
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def write_json(path: Path, value: Any, mode: int = 0o600) -> None:
    """Atomically write ``value`` as JSON."""
    atomic_write(path, json.dumps(value, sort_keys=True).encode("utf-8"), mode)


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


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
