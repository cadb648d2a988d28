"""What every fault scenario shares that is neither Heat's side nor the agent's: errors and waiting."""
from __future__ import annotations

import time
from typing import Any, Callable

MIB = 1024 * 1024


class ScenarioError(RuntimeError):
    """The scenario itself could not be set up (not a figure about the agent)."""


class Unavailable(ScenarioError):
    """The scenario cannot run on this machine (e.g. not root, no tmpfs)."""


def quiet(_message: str) -> None:
    """The default ``say``: the tests want figures, not progress lines."""


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.01) -> bool:
    """Poll ``predicate``; whether it came true within ``timeout`` (a figure, so no exception)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
