"""Metadata from files on the server itself: ``local`` (a directory) and ``heat_local`` (files).

``local`` reads every ``*.json`` file of its directories in name order and
merges them (objects merge key by key, later files win, other values are
replaced, as os-apply-config merges its inputs). Anyone who can write these
files chooses what runs as root, so a world-writable directory or file, or one
owned by another user than the agent's, is refused. ``heat_local`` reads the
bootstrap file(s) Heat's user-data leaves (docs/protocol.md, "First boot").

Both remember the files' identity (name, size, mtime, inode) as a validator,
so a poll of unchanged files reads nothing and answers "unchanged".
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import httpclient
from . import MAX_BODY, Fetched, SourceError, encode, json_object

LOCAL_DIR = "/var/lib/os-collect-config/local-data"
HEAT_LOCAL_FILE = "/var/lib/heat-cfntools/cfn-init-data"
VALIDATOR = "files"


def paths_setting(settings: Mapping[str, Any], default: str) -> list[Path]:
    """``path`` as one string, a newline/comma separated string or a list; the default when unset."""
    value = settings.get("path")
    if value in (None, "", []):
        return [Path(default)]
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", "\n").splitlines()
    return [Path(str(item).strip()) for item in items if str(item).strip()]


def merge(into: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``into``: nested objects key by key, anything else replaced."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def check_safe(path: Path, st: os.stat_result, *, owner: bool) -> None:
    """Refuse what another user could have written (world-writable, or owned by someone else)."""
    if st.st_mode & stat.S_IWOTH:
        raise SourceError(f"refusing {path}: it is world-writable", transient=False)
    if owner and st.st_uid != os.geteuid():
        raise SourceError(f"refusing {path}: it is owned by uid {st.st_uid}, not by the agent's "
                          f"uid {os.geteuid()}", transient=False)


def fingerprint(files: Iterable[tuple[Path, os.stat_result]]) -> str:
    """A string that changes whenever any of the files is replaced, rewritten, added or removed."""
    return "|".join(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}" for path, st in files)


def read_object(kind: str, path: Path, *, owner: bool) -> dict[str, Any]:
    """Read one JSON object file, checking the opened file (not the name) for safety and size."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            check_safe(path, st, owner=owner)
            data = handle.read(MAX_BODY + 1)
    except OSError as err:
        raise SourceError(f"{kind}: cannot read {path}: {err.strerror or err}", transient=True) from None
    if len(data) > MAX_BODY:
        raise SourceError(f"{kind}: {path} is larger than {MAX_BODY} bytes", transient=False)
    return json_object(kind, data, str(path))


class _FileSource:
    """The shared part: list the files, skip the read when nothing changed, merge in order."""

    kind = ""
    required: tuple[str, ...] = ()  # every key has a default
    local = True  # polled only when a config file writes the section out (docs/protocol.md, "Where to poll")
    owner_check = True

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def files(self) -> list[tuple[Path, os.stat_result]]:
        raise NotImplementedError

    def fetch(self, validators: dict[str, str]) -> Fetched:
        files = self.files()
        current = fingerprint(files)
        if validators.get(VALIDATOR) == current:
            return Fetched(None, dict(validators))
        document: dict[str, Any] = {}
        for path, _ in files:
            merge(document, read_object(self.kind, path, owner=self.owner_check))
        return Fetched(encode(document), {VALIDATOR: current})


class LocalSource(_FileSource):
    """``local``: the ``*.json`` files of one or more directories (missing directories are skipped)."""

    kind = "local"

    def __init__(self, settings: Mapping[str, Any], *, timeout: float = 0.0,
                 tls: httpclient.TLSOptions | None = None) -> None:
        super().__init__(paths_setting(settings, LOCAL_DIR))

    def files(self) -> list[tuple[Path, os.stat_result]]:
        found: list[tuple[Path, os.stat_result]] = []
        for directory in self.paths:
            try:
                st = os.stat(directory)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise SourceError(f"local: cannot read {directory}: {err.strerror or err}") from None
            if not stat.S_ISDIR(st.st_mode):
                raise SourceError(f"local: {directory} is not a directory", transient=False)
            check_safe(directory, st, owner=True)
            found.extend(self._entries(directory))
        return found

    def _entries(self, directory: Path) -> list[tuple[Path, os.stat_result]]:
        try:
            names = sorted(name for name in os.listdir(directory) if name.endswith(".json"))
        except OSError as err:
            raise SourceError(f"local: cannot list {directory}: {err.strerror or err}") from None
        entries = []
        for name in names:
            path = directory / name
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue  # removed while we looked: the next poll sees the new state
            if stat.S_ISREG(st.st_mode):
                entries.append((path, st))
        return entries


class HeatLocalSource(_FileSource):
    """``heat_local``: the bootstrap file(s); an error while none exists yet."""

    kind = "heat_local"
    owner_check = False  # root's cfn-init-data, read by whoever may read it

    def __init__(self, settings: Mapping[str, Any], *, timeout: float = 0.0,
                 tls: httpclient.TLSOptions | None = None) -> None:
        super().__init__(paths_setting(settings, HEAT_LOCAL_FILE))

    def files(self) -> list[tuple[Path, os.stat_result]]:
        found = []
        for path in self.paths:
            try:
                found.append((path, os.stat(path)))
            except FileNotFoundError:
                continue
            except OSError as err:
                raise SourceError(f"heat_local: cannot read {path}: {err.strerror or err}") from None
        if not found:
            raise SourceError(f"heat_local: none of {', '.join(map(str, self.paths))} exists yet")
        return found
