"""The one table of metadata transports: which kinds exist, where their code is, what they need.

``config.py`` (which sections ``stoker.conf`` accepts), ``transport.py`` (which
section is complete enough to choose, docs/protocol.md, "Where to poll") and
``sources/__init__.py`` (which class to build) all read it, so a transport is
added with its own module plus one line here (docs/architecture.md, "Adding a
transport"). The table is plain data: reading it imports no source module, so
an agent loads only the module of the transport it polls.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

CREDENTIALS = ("auth_url", "user_id", "password", "project_id")  # a Keystone login (docs/protocol.md, "Heat")


@dataclass(frozen=True)
class Entry:
    """One transport: its section name, the class that polls it, and when it can be chosen."""

    kind: str                  # the section name in os-collect-config and stoker.conf
    module: str                # the module under stoker.sources
    factory: str               # the source class in that module
    required: tuple[str, ...]  # keys that must be set for the section to be usable
    local: bool = False        # chosen only when a config file writes its section out
    default: bool = True       # tried when Heat names no collectors


ENTRIES = (
    Entry("cfn", "cfn", "CfnSource", ("metadata_url", "access_key_id", "secret_access_key", "stack_name", "path")),
    Entry("heat", "heat", "HeatSource", (*CREDENTIALS, "stack_id", "resource_name")),
    Entry("request", "tempurl", "TempURLSource", ("metadata_url",)),
    Entry("zaqar", "zaqar", "ZaqarSource", (*CREDENTIALS, "queue_id")),
    Entry("local", "local", "LocalSource", (), local=True),
    Entry("heat_local", "local", "HeatLocalSource", (), local=True, default=False),
)
ALIASES = {"tempurl": "request"}  # other names make_source accepts for a kind

BY_KIND = {entry.kind: entry for entry in ENTRIES}
KINDS = tuple(BY_KIND)
DEFAULT_COLLECTORS = tuple(entry.kind for entry in ENTRIES if entry.default)


def entry(kind: str) -> Entry | None:
    """The registry line for ``kind`` or one of its aliases; None for a kind stoker does not poll."""
    return BY_KIND.get(ALIASES.get(kind, kind))


def load(kind: str) -> Any:
    """The source class for ``kind``, importing its module now (and only its module); None if unknown."""
    found = entry(kind)
    if found is None:
        return None
    module = importlib.import_module(f"{__package__}.{found.module}")
    return getattr(module, found.factory)
