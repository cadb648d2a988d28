"""Turn a metadata document into typed deployment items (SPEC 1.1).

Validation happens here, once. A malformed item does not vanish: it becomes an
:class:`Item` whose ``problem`` says what is wrong, so that the agent can still
signal it as failed instead of leaving the stack waiting. Everything after this
module trusts its input.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .digest import sha256_hex

SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
DEFAULT_ACTION = "CREATE"


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
    problem: str | None = None

    @property
    def action(self) -> str:
        """The lifecycle step (CREATE, UPDATE, DELETE, SUSPEND, RESUME or a custom name)."""
        action = self.inputs.get("deploy_action")
        return action if isinstance(action, str) and action else DEFAULT_ACTION

    @property
    def label(self) -> str:
        """How logs and errors name the item: its name, else its id."""
        return self.name or self.id or self.key

    def for_hook(self, group: str | None = None, config: Any = None) -> dict[str, Any]:
        """The item as a hook reads it on stdin: nulls normalised, group/config possibly replaced."""
        item = dict(self.raw)
        item["options"] = item.get("options") if isinstance(item.get("options"), dict) else {}
        item["outputs"] = self.outputs
        item["inputs"] = item.get("inputs") if isinstance(item.get("inputs"), list) else []
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
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
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
    document = Document(collect_settings=collect if isinstance(collect, dict) else None)
    for position, entry in enumerate(deployments):
        if isinstance(entry, dict):
            document.items.append(parse_item(entry))
        else:
            document.ignored.append(f"deployments[{position}] is a {type(entry).__name__}, not an object")
    return document


def parse_item(raw: dict[str, Any]) -> Item:
    """Type one item, collecting every problem instead of raising."""
    problems: list[str] = []
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
        group = str(group)
    if raw.get("options") is not None and not isinstance(raw.get("options"), dict):
        problems.append("options must be an object or null")
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""
    return Item(raw=raw, key=item_key(ident, raw), id=ident, name=name, group=group,
                inputs=inputs, outputs=outputs, problem="; ".join(problems) or None)


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
    for position, entry in enumerate(value):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            inputs[entry["name"]] = entry.get("value")
        else:
            problems.append(f"inputs[{position}] is malformed: it needs a string 'name'")
    return inputs


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
