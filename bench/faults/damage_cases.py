"""The damaged-state cases: which files are damaged, how, and what one case's commands did.

Kept apart from the world that runs the cases and from the judges that weigh
them, so that both (and the tests, which name the files in their messages)
read the same definitions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FILES = ("record", "item", "notify", "transport", "rerun", "lock", "status")
KINDS = ("empty", "truncated", "garbage", "wrong-shape", "deleted")
FILE_DESCRIPTIONS = {
    "record": "journal/d3.json (the journal record of a deployment whose signal is pending)",
    "item": "deployed/d3.json (the item as Heat sent it, needed to signal)",
    "notify": "deployed/d3.notify.json (the payload still to be signalled)",
    "transport": "transport.json (where to poll, learned from Heat)",
    "rerun": "rerun/d1 (an operator's request to run d1 again)",
    "lock": "lock (the state lock, holding the last holder's pid)",
    "status": "work/d4/status (the exit status the hook wrapper kept for a hook that finished while "
              "no agent ran)",
}
EXIT_CODES = range(0, 7)  # the documented table of stoker's exit codes
GARBAGE = b"\xff\xfe\x00\x80\xc3\x28stoker\x9f\x92\x96 not utf-8 \xe2\x28\xa1\x00\xff"
RECORD_VICTIM, ITEM_VICTIM, RERUN_VICTIM, STATUS_VICTIM = "d3", "d3", "d1", "d4"
ALREADY_DELIVERED = ("d1", "d2")


@dataclass
class Command:
    args: list[str]
    code: int | None
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        return self.code not in EXIT_CODES or "Traceback" in self.stderr or "Traceback" in self.stdout

    def describe(self) -> str:
        return (f"$ stoker {' '.join(self.args)}  -> exit {self.code}\n"
                f"  stderr: {self.stderr.strip()[-1500:] or '(empty)'}")


@dataclass
class CaseResult:
    """What the commands did over one damaged file, and what each check made of it."""

    file: str
    kind: str
    path: str = ""
    damaged: bytes | None = None
    commands: list[Command] = field(default_factory=list)
    status: dict[str, Any] | None = None    # the last ``stoker status --json``
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    kept_aside: bool = False                # the damaged bytes are in <state>/quarantine/
    reruns: dict[str, int] = field(default_factory=dict)
    allowed_reruns: dict[str, int] = field(default_factory=dict)
    new_signals: dict[str, list[Any]] = field(default_factory=dict)
    polled: int = 0                         # metadata requests during the commands
    must_report: bool = True
    problems: list[str] = field(default_factory=list)   # unmet "reported" expectations
    note: str = ""

    @property
    def survived(self) -> bool:
        return bool(self.commands) and not any(c.crashed for c in self.commands) and self.status is not None

    @property
    def reported(self) -> bool:
        return not self.problems

    @property
    def unexpected_reruns(self) -> dict[str, int]:
        return {k: n for k, n in self.reruns.items() if n > self.allowed_reruns.get(k, 0)}

    @property
    def signalled_again(self) -> dict[str, int]:
        """Deployments Heat had already heard of (d1, d2) that were signalled again without running again."""
        return {k: len(self.new_signals.get(k, [])) for k in ALREADY_DELIVERED
                if len(self.new_signals.get(k, [])) > self.reruns.get(k, 0)}

    def crashes(self) -> str:
        return "\n".join(c.describe() for c in self.commands if c.crashed) or "(none)"

    def transcript(self) -> str:
        return "\n".join(c.describe() for c in self.commands)


def damage(kind: str, original: bytes, file: str) -> bytes | None:
    """The damaged content of a state file (None: delete it)."""
    if kind == "empty":
        return b""
    if kind == "truncated":
        return original[: len(original) // 2]
    if kind == "garbage":
        return GARBAGE
    if kind == "wrong-shape":
        return _wrong_shape(original, file)
    if kind == "deleted":
        return None
    raise ValueError(f"unknown kind of damage {kind!r}")


def _wrong_shape(original: bytes, file: str) -> bytes:
    """Valid JSON of the wrong type: for a record, its own fields with the wrong types; else a list."""
    if file == "record":
        record = json.loads(original)
        record.update({"state": ["finished"], "status_code": "zero", "ok": "yes", "started_at": "noon",
                       "signal": "delivered"})
        return json.dumps(record).encode()
    return b'["not", "what", "stoker writes", 1]'
