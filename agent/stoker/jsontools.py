"""JSON from outside the agent, made safe to hold: bounded nesting, no non-finite numbers.

Heat's documents, hooks' answers and the agent's own state files are all JSON
that the agent did not write in this process. Two properties of Python's
``json`` make such input dangerous to code that walks it: a value may nest
deeper than the interpreter's recursion limit (``RecursionError`` in any
recursive walk, or in ``json`` itself), and ``NaN``/``Infinity`` are accepted
although no JSON peer (Heat included) can read them back. Everything that
reads outside JSON goes through :func:`loads` and :func:`prune` so that what
comes out can be walked, re-encoded and compared without surprises.
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 100
CUT = "stoker: value nested too deeply, left out"


class JSONInputError(ValueError):
    """The text is not JSON stoker can hold (syntax, non-finite numbers, nesting, encoding)."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str, *, allow_nonfinite: bool = False) -> Any:
    """Parse JSON text, turning every way it can fail into :class:`JSONInputError`.

    Numbers too large for a float (``1e400``) become ``inf``; unless
    ``allow_nonfinite``, they and the ``NaN``/``Infinity`` constants are refused.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise JSONInputError(f"it is not UTF-8 text (byte {err.start})") from None
    try:
        if allow_nonfinite:
            value = json.loads(data)
        else:
            value = json.loads(data, parse_constant=_no_constants, parse_float=_finite_float)
    except RecursionError:
        raise JSONInputError("it nests too deeply to be read") from None
    except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JSONInputError(str(err)) from None
    return value


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a JSON number")
    return number


def prune(value: Any, limit: int = MAX_DEPTH) -> tuple[Any, bool]:
    """``value`` with anything nested deeper than ``limit`` replaced by a note; and whether any was.

    Iterative, so that it works on values far deeper than the recursion limit.
    """
    cut = False
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        node, parent, slot, depth = stack.pop()
        if isinstance(node, (dict, list)) and depth >= limit:
            parent[slot] = CUT
            cut = True
        elif isinstance(node, dict):
            copy: dict[Any, Any] = {}
            parent[slot] = copy
            for key, child in node.items():
                copy[key] = None
                stack.append((child, copy, key, depth + 1))
        elif isinstance(node, list):
            items: list[Any] = [None] * len(node)
            parent[slot] = items
            for index, child in enumerate(node):
                stack.append((child, items, index, depth + 1))
        else:
            parent[slot] = node
    return root[0], cut


def loads_pruned(data: bytes | str, limit: int = MAX_DEPTH) -> tuple[Any, bool]:
    """:func:`loads` then :func:`prune`: the value and whether anything was cut."""
    return prune(loads(data), limit)
