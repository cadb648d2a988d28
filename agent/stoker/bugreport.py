"""The bug-report bundle (``stoker collect-logs``): everything about this agent in one tar.gz, secrets masked.

What goes in: the status (text and JSON), the timeline, every journal record,
the deployed items and their results, the config files, the learned transport
settings and ``polling.json``, the run directories of hooks (their input,
output, pid and status), puppet's logs when the agent keeps them, the
quarantined files with their reasons, the agent's journald lines when
``journalctl`` is there, and a note of the machine (versions, boot time).
``MANIFEST.txt`` in the bundle says what was left out and why.

Secrets are masked in every member, by three layers (see :mod:`redaction`):
values the agent learns are secret (every secret-named input of every item,
every secret-named key of the config and transport files) are replaced
wherever they appear, even inside a hook's stderr or an output; JSON and INI
keys named like secrets are masked whatever their value; signed URL
parameters are masked by their shape. Files that cannot be parsed
(quarantined ones) are masked as text, including values after secret-named
keys whose quotes never close.

Reading is read-only (the journal without the lock), so it works beside a
running agent; nothing it reads can make it fail: an unreadable file becomes
a line in the manifest.
"""
from __future__ import annotations

import configparser
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__, redaction, sourceconfig, timeline
from .config import Settings
from .journal import Journal, current_boot_id
from .pollstate import FILE_NAME as POLLING_FILE
from .pollstate import PollStateFile
from .redaction import MASK, SECRET_NAME_RE

JOURNALCTL_TIMEOUT = 30.0
JOURNALD_LINES = 20000
MAX_FILE_BYTES = 8 * 1024 * 1024   # a larger file is cut, keeping its tail (errors come last)
SYSTEMD_UNIT = "stoker.service"

# Values after secret-named keys, also when the text is not valid JSON or INI.
_LOOSE_JSON_RE = re.compile(r'(?P<key>"[^"\n]*(?:password|passwd|secret|token|access_key|private_key|signal_id|'
                            r'_key)[^"\n]*"\s*:\s*")(?P<value>[^"\n]*)', re.IGNORECASE)
_LOOSE_INI_RE = re.compile(r'^(?P<key>[ \t]*[\w.-]*(?:password|passwd|secret|token|access_key|private_key|'
                           r'signal_id|_key)[\w.-]*[ \t]*[=:][ \t]*)(?P<value>\S.*)$', re.IGNORECASE | re.MULTILINE)


@dataclass
class Bundle:
    """What went into the archive, and what could not."""

    path: Path
    members: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Collector:
    """Gathers members in memory, masked, then writes the archive."""

    def __init__(self, settings: Settings, journalctl: str | None) -> None:
        self.settings = settings
        self.journalctl = journalctl
        self.now = time.time()
        self.root = "stoker-logs-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.now))
        self.members: dict[str, bytes] = {}
        self.skipped: list[str] = []

    # ------------------------------------------------------------ secrets

    def learn_secrets(self, journal: Journal) -> None:
        """Register every secret the state and config hold, before anything is written out."""
        for record in journal.records():
            item, _ = journal.item(record.key)
            if item is not None:
                redaction.remember_secret_fields(item.get("inputs"))
                redaction.remember_secret_fields(item)
        for path in self._config_files():
            for _section, key, value in _ini_pairs(path):
                if SECRET_NAME_RE.search(key):
                    redaction.remember(value)
        learned = _read_json(self.settings.state_dir / sourceconfig.LEARNED_FILE)
        if learned is not None:
            redaction.remember_secret_fields(learned)

    # ------------------------------------------------------------ members

    def add_text(self, name: str, text: str) -> None:
        self.members[f"{self.root}/{name}"] = mask_text(text).encode("utf-8", errors="replace")

    def add_json(self, name: str, value: Any) -> None:
        self.add_text(name, json.dumps(mask_value(value), indent=2, sort_keys=True) + "\n")

    def add_file(self, name: str, path: Path) -> None:
        """A file as JSON when it parses (masked by key), else as masked text; a note when unreadable."""
        try:
            data = _read_tail(path)
        except OSError as err:
            self.skipped.append(f"{name}: cannot read {path}: {err.strerror or err}")
            return
        text = data.decode("utf-8", errors="replace")
        try:
            value = json.loads(text)
        except ValueError:
            self.add_text(name, text)
        else:
            self.add_json(name, value)

    def add_tree(self, prefix: str, directory: Path, pattern: str = "*") -> None:
        """Every regular file under ``directory`` (symlinks are not followed)."""
        try:
            paths = sorted(p for p in directory.rglob(pattern) if p.is_file() and not p.is_symlink())
        except OSError as err:
            self.skipped.append(f"{prefix}: cannot list {directory}: {err.strerror or err}")
            return
        for path in paths:
            self.add_file(f"{prefix}/{path.relative_to(directory)}", path)

    def _config_files(self) -> list[Path]:
        files = [self.settings.config_file, self.settings.os_collect_config]
        return [p for p in files if p is not None and p.is_file()]

    # ------------------------------------------------------------ writing

    def write(self, output: Path) -> Bundle:
        self.add_text("MANIFEST.txt", self._manifest())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in sorted(self.members.items()):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(self.now), 0o600
                archive.addfile(info, io.BytesIO(data))
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        return Bundle(output, sorted(self.members), list(self.skipped))

    def _manifest(self) -> str:
        lines = [f"stoker {__version__} bug-report bundle, made {_iso(self.now)}.",
                 "Passwords, tokens, keys and URL signatures are masked as *** in every file.", "",
                 "Files:"]
        lines += [f"  {name.split('/', 1)[1]}" for name in sorted(self.members)]
        lines += ["", "Left out:" if self.skipped else "Nothing was left out."]
        lines += [f"  {reason}" for reason in self.skipped]
        return "\n".join(lines) + "\n"


def collect(settings: Settings, output: Path, journalctl: str | None = None,
            status_views: Callable[[Journal], tuple[str, str]] | None = None) -> Bundle:
    """Write the bundle to ``output``; ``journalctl`` defaults to the one on PATH (none: skipped)."""
    collector = Collector(settings, journalctl if journalctl is not None else shutil.which("journalctl"))
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    collector.learn_secrets(journal)
    _add_status(collector, journal, status_views)
    _add_deployments(collector, journal)
    _add_config(collector)
    _add_state(collector)
    _add_hook_logs(collector)
    _add_journald(collector)
    collector.add_text("system.txt", _system())
    return collector.write(output)


# ------------------------------------------------------------------ the parts


def _add_status(collector: Collector, journal: Journal,
                status_views: Callable[[Journal], tuple[str, str]] | None) -> None:
    try:
        text, as_json = (status_views or _status_views)(journal)
        collector.add_text("status.txt", text + "\n")
        collector.add_text("status.json", as_json + "\n")
    except Exception as err:  # noqa: BLE001 - a broken view must not lose the rest of the bundle
        collector.skipped.append(f"status: {type(err).__name__}: {err}")
    try:
        view = timeline.build(journal.records(), PollStateFile(journal.state_dir).load(),
                              boot_id=current_boot_id(), boot_at=timeline.boot_time(), everything=True)
        collector.add_text("analyze.txt", timeline.as_text(view) + "\n")
    except Exception as err:  # noqa: BLE001
        collector.skipped.append(f"analyze: {type(err).__name__}: {err}")


def _status_views(journal: Journal) -> tuple[str, str]:
    from . import status

    view = status.snapshot(journal, journal.state_dir / "work")
    return status.as_text(view), status.as_json(view.records, view.damage, view)


def _add_deployments(collector: Collector, journal: Journal) -> None:
    """The journal records, and the upstream-compatible item and result files beside them."""
    collector.add_tree("state/journal", journal.dir, "*.json")
    collector.add_tree("deployed", journal.deployed_dir, "*.json")


def _add_config(collector: Collector) -> None:
    settings = collector.settings
    for name, path in (("config/stoker.conf", settings.config_file),
                       ("config/os-collect-config.conf", settings.os_collect_config)):
        if path is None or not path.is_file():
            collector.skipped.append(f"{name}: {path} does not exist" if path
                                     else f"{name}: no config file (defaults in use)")
            continue
        try:
            collector.add_text(name, mask_ini(_read_tail(path).decode("utf-8", errors="replace")))
        except OSError as err:
            collector.skipped.append(f"{name}: cannot read {path}: {err.strerror or err}")
    effective = {key: str(value) for key, value in vars(settings).items()
                 if key not in ("transports", "hook_environment")}
    effective["transports"] = {k: dict(v) for k, v in settings.transports.items()}
    effective["hook_environment"] = dict(settings.hook_environment)
    collector.add_json("config/effective.json", effective)


def _add_state(collector: Collector) -> None:
    state = collector.settings.state_dir
    for name in (sourceconfig.LEARNED_FILE, POLLING_FILE):
        path = state / name
        if path.is_file():
            collector.add_file(f"state/{name}", path)
        else:
            collector.skipped.append(f"state/{name}: not there")
    if (state / "quarantine").is_dir():
        collector.add_tree("state/quarantine", state / "quarantine")
    for name in ("rerun",):
        if (state / name).is_dir():
            collector.add_text(f"state/{name}.txt", "\n".join(sorted(p.name for p in (state / name).iterdir())) + "\n")


def _add_hook_logs(collector: Collector) -> None:
    """Run directories of hooks (input, output, pid, status) and puppet's kept logs."""
    settings = collector.settings
    if settings.work_dir.is_dir():
        collector.add_tree("state/work", settings.work_dir)
    logdir = settings.hook_environment.get("HEAT_PUPPET_LOGDIR") or os.environ.get("HEAT_PUPPET_LOGDIR")
    if logdir and Path(logdir).is_dir():
        collector.add_tree("hooks/puppet-logs", Path(logdir), "*.log")


def _add_journald(collector: Collector) -> None:
    if not collector.journalctl:
        collector.skipped.append("journald.txt: journalctl is not installed")
        return
    command = [collector.journalctl, "--unit", SYSTEMD_UNIT, "--no-pager", "--output", "short-iso-precise",
               "--lines", str(JOURNALD_LINES)]
    try:
        result = subprocess.run(command, capture_output=True, timeout=JOURNALCTL_TIMEOUT, check=False,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        collector.skipped.append(f"journald.txt: {' '.join(command)} failed: {err}")
        return
    text = result.stdout.decode("utf-8", errors="replace")
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
        collector.skipped.append(f"journald.txt: journalctl exited {result.returncode}: "
                                 f"{mask_text(reason[-1]) if reason else 'no message'}")
        return
    collector.add_text("journald.txt", text)


def _system() -> str:
    boot = timeline.boot_time()
    return "\n".join([
        f"stoker: {__version__}", f"python: {sys.version.split()[0]} ({sys.executable})",
        f"platform: {platform.platform()}", f"boot id: {current_boot_id() or 'unknown'}",
        f"booted: {_iso(boot) if boot else 'unknown'}", f"collected: {_iso(time.time())}",
    ]) + "\n"


# ------------------------------------------------------------------ masking


def mask_value(value: Any) -> Any:
    """A JSON value with secret-named keys and secret-named inputs masked, every string scrubbed."""
    return redaction.redact_value(value, mask_text)


def mask_text(text: str) -> str:
    """Known secrets, secret-shaped values, and values after secret-named keys in broken JSON or INI."""
    text = redaction.redact(text)
    text = _LOOSE_JSON_RE.sub(lambda m: m.group("key") + MASK, text)
    return _LOOSE_INI_RE.sub(lambda m: m.group("key") + MASK, text)


def mask_ini(text: str) -> str:
    """An INI file with the values of secret-named keys masked (comments and layout kept)."""
    return mask_text(text)


def _ini_pairs(path: Path) -> list[tuple[str, str, str]]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment]
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return []
    pairs = [("DEFAULT", k, v) for k, v in parser.defaults().items()]
    for section in parser.sections():
        pairs += [(section, k, v) for k, v in parser.items(section, raw=True)]
    return pairs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_tail(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - MAX_FILE_BYTES))
        data = handle.read()
    if size > MAX_FILE_BYTES:
        data = f"[stoker collect-logs: the first {size - MAX_FILE_BYTES} bytes were left out]\n".encode() + data
    return data


def _iso(value: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
