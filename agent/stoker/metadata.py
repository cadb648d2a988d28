"""Turn a metadata document into typed deployment items (docs/protocol.md, "deployments").

Validation happens here, once, at the boundary: every later stage (planning,
the deployer, the outbox, ``heat-config-notify``) works on the :class:`Item`
this module makes, never on raw JSON. A malformed item does not vanish: it
becomes an :class:`Item` whose ``problem`` says what is wrong, so that the
agent can still signal it as failed instead of leaving the stack waiting.
Whatever the document holds (any nesting, any types, any strings), parsing
never raises anything but :class:`MetadataError` for the document as a whole.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from . import jsontools
from .digest import sha256_hex

SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
DEFAULT_ACTION = "CREATE"
MAX_GROUP_LENGTH = 200  # a hook is a file: its name must fit in one path component
MAX_ITEM_DEPTH = jsontools.MAX_DEPTH
MAX_TIMEOUT = 30 * 86400.0


class MetadataError(ValueError):
    """The document as a whole is unusable (not JSON, not an object or list)."""


@dataclass
class Item:
    """One deployment item (a derived config), as Heat sent it, plus what we made of it."""

    raw: dict[str, Any]
    key: str
    id: str
    name: str
    group: str
    inputs: dict[str, Any]
    outputs: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def action(self) -> str:
        """The lifecycle step (CREATE, UPDATE, DELETE, SUSPEND, RESUME or a custom name)."""
        action = self.inputs.get("deploy_action")
        return action if isinstance(action, str) and action else DEFAULT_ACTION

    @property
    def stack_name(self) -> str:
        """The stack's name as Heat shows it (``deploy_stack_id`` is ``<stack name>/<stack id>``)."""
        value = self.inputs.get("deploy_stack_id")
        return value.split("/", 1)[0] if isinstance(value, str) else ""

    @property
    def resource_name(self) -> str:
        """The deployment resource's name in the template (``deploy_resource_name``)."""
        value = self.inputs.get("deploy_resource_name")
        return value if isinstance(value, str) else ""

    @property
    def config(self) -> Any:
        return self.raw.get("config")

    @property
    def timeout(self) -> float | None:
        """The item's own ``options.timeout`` when it is a positive number (capped), else None."""
        value = self.options.get("timeout")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                and value > 0:
            return min(float(value), MAX_TIMEOUT)
        return None

    @property
    def label(self) -> str:
        """How logs and errors name the item: its name, else its id."""
        return self.name or self.id or self.key

    def for_hook(self, group: str | None = None, config: Any = None) -> dict[str, Any]:
        """The item as a hook reads it on stdin: as Heat sent it, group/config possibly replaced.

        Keys Heat left out stay out, as with upstream's dispatcher (hooks and
        tools compare what they read with ``deployed/<id>.json``); only a
        ``null`` options, outputs or inputs becomes empty, since upstream's
        hooks index those keys and would crash on null.
        """
        item = dict(self.raw)
        for key, empty in (("options", {}), ("outputs", []), ("inputs", [])):
            if key in item and item[key] is None:
                item[key] = empty
        if group is not None:
            item["group"] = group
            item["config"] = config
        return item


@dataclass
class Document:
    """A parsed metadata document: the deployments and the agent's transport settings."""

    items: list[Item] = field(default_factory=list)
    collect_settings: dict[str, Any] | None = None
    ignored: list[str] = field(default_factory=list)


def load_document(data: bytes | str) -> Document:
    """Parse JSON text into a :class:`Document`."""
    try:
        value = jsontools.loads(data)
    except jsontools.JSONInputError as err:
        raise MetadataError(f"metadata is not valid JSON: {err}") from None
    return parse_document(value)


def parse_document(value: Any) -> Document:
    """Accept the whole metadata object or a bare ``deployments`` list."""
    if isinstance(value, list):
        deployments: Any = value
        collect = None
    elif isinstance(value, dict):
        deployments = value.get("deployments") or []
        collect = value.get("os-collect-config")
    else:
        raise MetadataError(f"metadata must be a JSON object or list, not {type(value).__name__}")
    if not isinstance(deployments, list):
        raise MetadataError("metadata 'deployments' must be a list")
    collect = jsontools.prune(collect)[0] if isinstance(collect, dict) else None
    document = Document(collect_settings=collect)
    for position, entry in enumerate(deployments):
        if isinstance(entry, dict):
            document.items.append(parse_item(entry))
        else:
            document.ignored.append(f"deployments[{position}] is a {type(entry).__name__}, not an object")
    return document


def parse_item(raw: dict[str, Any]) -> Item:
    """Type one item, collecting every problem instead of raising."""
    problems: list[str] = []
    raw, too_deep = jsontools.prune(raw, MAX_ITEM_DEPTH)
    if too_deep:
        problems.append(f"the item nests deeper than {MAX_ITEM_DEPTH} levels")
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident:
        problems.append("the item has no id")
        ident = ""
    inputs = _inputs(raw.get("inputs"), problems)
    outputs = _outputs(raw.get("outputs"), problems)
    group = raw.get("group")
    if group is None:
        group = "Heat::Ungrouped"
    elif not isinstance(group, str):
        problems.append(f"group must be a string, not {type(group).__name__}")
        group = ""
    elif len(group) > MAX_GROUP_LENGTH:
        problems.append(f"group is {len(group)} characters long; a hook name has at most {MAX_GROUP_LENGTH}")
        group = group[:MAX_GROUP_LENGTH]
    options = raw.get("options")
    if options is not None and not isinstance(options, dict):
        problems.append("options must be an object or null")
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""
    return Item(raw=raw, key=item_key(ident, raw), id=ident, name=name, group=group,
                inputs=inputs, outputs=outputs, options=options if isinstance(options, dict) else {},
                problem="; ".join(problems) or None)


def item_key(ident: str, raw: dict[str, Any]) -> str:
    """A file-name-safe key for the journal: the id itself when it is safe, else a digest."""
    if SAFE_KEY.match(ident):
        return ident
    basis = ident or json.dumps(raw, sort_keys=True, default=str)
    return "h-" + sha256_hex(basis.encode("utf-8", errors="replace"))[:40]


def _inputs(value: Any, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        problems.append("inputs must be a list")
        return {}
    inputs: dict[str, Any] = {}
    bad = []
    for position, entry in enumerate(value):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            inputs[entry["name"]] = entry.get("value")
        else:
            bad.append(position)
    if bad:
        listed = ", ".join(str(p) for p in bad[:5]) + (" ..." if len(bad) > 5 else "")
        problems.append(f"inputs[{listed}] is malformed: each input needs a string 'name'")
    return inputs


def inputs_of(raw: Any) -> dict[str, Any]:
    """The inputs of a stored item as a name -> value mapping (the same rules as parsing)."""
    return parse_item(raw).inputs if isinstance(raw, dict) else {}


def _outputs(value: Any, problems: list[str]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("outputs must be a list or null")
        return []
    outputs = [entry for entry in value if isinstance(entry, dict) and isinstance(entry.get("name"), str)]
    if len(outputs) != len(value):
        problems.append("an output is malformed")
    return outputs
