"""Where to poll: which metadata source, with what settings, and how that is learned.

(docs/protocol.md, "Where to poll" and "First boot".) Words used across the
code and docs: a *source* is where the agent polls its metadata (cfn, heat,
request, zaqar, local: Heat's ``software_config_transport``); a *signal
transport* is how it answers (CFN_SIGNAL, HEAT_SIGNAL, ...: see
:mod:`stoker.signals`). This module is about sources only.

Heat writes the ``os-collect-config`` key into the metadata; it names the
collectors and fills in exactly one source section (sections of sources no
longer in use are left with every value null). The agent learns it from, in
order of precedence:

1. what it last fetched (persisted in the state directory, so a reboot resumes
   with the latest settings after Heat switched transports or credentials);
2. stoker's own config file (``[cfn]``, ``[heat]``, ``[request]``, ``[zaqar]`` sections);
3. ``/etc/os-collect-config.conf``, for images built for the upstream chain;
4. the bootstrap file ``cfn-init-data`` that Heat's user-data leaves at first boot.
"""
from __future__ import annotations

import configparser
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import fsutil, redaction, statefile
from .config import Settings
from .sources import registry

LOG = logging.getLogger("stoker.sourceconfig")
LEARNED_FILE = "transport.json"
LEARNED_ORIGIN = "the last fetched metadata"


@dataclass(frozen=True)
class SourceConfig:
    """The chosen remote source and its settings, plus Heat's polling hints."""

    kind: str
    settings: Mapping[str, Any]
    origin: str
    polling_interval: float | None = None
    splay: float | None = None

    def describe(self) -> str:
        return f"{self.kind} (from {self.origin})"

    def endpoint(self) -> str:
        """Where this source is polled, fit for a log line or ``stoker status``: secrets masked.

        The metadata URL for cfn and TempURL (its signature masked), the Keystone
        URL plus the stack and resource for heat, the Keystone URL plus the queue
        for zaqar, the path for a local source.
        """
        value = self.settings
        if self.kind == "heat":
            where = f"{value.get('auth_url')} stack {value.get('stack_id')} resource {value.get('resource_name')}"
        elif self.kind == "zaqar":
            where = f"{value.get('auth_url')} queue {value.get('queue_id')}"
        else:
            where = str(value.get("metadata_url") or value.get("path") or "")
        return redaction.redact_url(where)


def choose(collect: Mapping[str, Any], origin: str, cfn_metadata_server: Path | None = None
           ) -> SourceConfig | None:
    """The first collector in Heat's list whose section is complete (null leftovers are skipped).

    Which kinds exist and which keys each needs is ``sources/registry.py``'s
    table. Heat lists ``local`` in every server's collectors without a section
    for it; a local source is used only when a config file writes its section
    out, which is what a section (rather than a bare name) means here.
    """
    collectors = collect.get("collectors")
    if not isinstance(collectors, list) or not collectors:
        collectors = list(registry.DEFAULT_COLLECTORS)
    for kind in collectors:
        entry = registry.BY_KIND.get(kind) if isinstance(kind, str) else None
        section = collect.get(kind) if entry is not None else None
        if not isinstance(section, Mapping):
            continue
        section = _with_metadata_server(kind, dict(section), cfn_metadata_server)
        if all(section.get(key) not in (None, "") for key in entry.required):
            redaction.remember_secret_fields(section)
            return SourceConfig(kind, section, origin, _number(collect.get("polling_interval")),
                             _number(collect.get("splay")))
    return None


def _with_metadata_server(kind: str, section: dict, server_file: Path | None) -> dict:
    """Upstream lets ``cfn-metadata-server`` supply a missing cfn base URL (with ``/v1/``)."""
    if kind == "cfn" and not section.get("metadata_url") and server_file:
        try:
            base = server_file.read_text(encoding="utf-8", errors="replace").strip().rstrip("/")
        except OSError:
            base = ""
        if base:
            section["metadata_url"] = base + "/v1/"
    return section


MAX_INTERVAL = 86400.0


def _number(value: Any) -> float | None:
    """A polling hint in seconds: a finite, non-negative number (at most a day), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(number, MAX_INTERVAL) if math.isfinite(number) and number >= 0 else None


def learned(settings: Settings) -> SourceConfig | None:
    """The settings last learned from Heat, if any.

    A damaged file is set aside (and the next source of settings is used): a
    crash at every start would be worse than polling with older settings.
    """
    path = settings.state_dir / LEARNED_FILE
    value, problem = statefile.read(path, statefile.expect_object)
    if problem is not None:
        statefile.Quarantine(settings.state_dir).put(path, problem)
        return None
    if isinstance(value, dict):
        return choose(value, LEARNED_ORIGIN, settings.cfn_metadata_server)
    return None


def remember(settings: Settings, collect: Mapping[str, Any]) -> bool:
    """Persist Heat's ``os-collect-config`` object so that a restart resumes with it; False if refused."""
    try:
        fsutil.write_json(settings.state_dir / LEARNED_FILE, dict(collect))
    except OSError as err:
        LOG.error("cannot save the metadata transport to %s: %s", settings.state_dir / LEARNED_FILE,
                  err.strerror or err)
        return False
    return True


def from_ini(path: Path, settings: Settings) -> SourceConfig | None:
    """Source sections of an upstream-style INI file (``/etc/os-collect-config.conf``)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError) as err:
        LOG.error("cannot read %s: %s", path, err)
        return None
    collect: dict[str, Any] = {name: dict(parser.items(name, raw=True)) for name in parser.sections()}
    collectors = parser.defaults().get("collectors")
    if collectors:
        collect["collectors"] = [c.strip() for c in collectors.replace(",", "\n").splitlines() if c.strip()]
    for key in ("polling_interval", "splay"):
        if key in parser.defaults():
            collect[key] = parser.defaults()[key]
    return choose(collect, str(path), settings.cfn_metadata_server)


def from_settings(settings: Settings) -> SourceConfig | None:
    """Source sections written in stoker's own config file."""
    if not settings.transports:
        return None
    collect: dict[str, Any] = {name: dict(values) for name, values in settings.transports.items()}
    if settings.collectors:
        collect["collectors"] = list(settings.collectors)
    return choose(collect, str(settings.config_file or "the config file"), settings.cfn_metadata_server)


def bootstrap_document(settings: Settings) -> dict[str, Any] | None:
    """The metadata Heat left in cfn-init-data at first boot (None when absent or unreadable)."""
    path = settings.cfn_init_data
    if not path.is_file():
        return None
    value, problem = statefile.read(path, statefile.expect_object)
    if problem is not None:
        LOG.error("cannot use the bootstrap file %s: it %s", path, problem)
        return None
    return value


def initial(settings: Settings) -> SourceConfig | None:
    """The transport to start with, by the precedence in the module docstring."""
    found = learned(settings) or from_settings(settings)
    if found is None and settings.os_collect_config.is_file():
        found = from_ini(settings.os_collect_config, settings)
    if found is None:
        document = bootstrap_document(settings)
        collect = document.get("os-collect-config") if document else None
        if isinstance(collect, dict):
            found = choose(collect, str(settings.cfn_init_data), settings.cfn_metadata_server)
    return found
