"""The expectations of each damaged-state case, and which of them a case missed.

Surviving (no traceback, documented exit codes) is asked of every case; what
"reported" means depends on the file: most must be quarantined and listed,
some cannot be told from valid content, some are allowed a rerun.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from tests.agent_helpers import Agent

from .damage_cases import RECORD_VICTIM, RERUN_VICTIM, STATUS_VICTIM, CaseResult

DAMAGE_WORDS = ("damaged", "damage", "corrupt", "unreadable")


def judge(agent: Agent, result: CaseResult, original: bytes) -> None:
    """Fill in what was expected of this case and which expectations were not met."""
    quarantine = agent.state / "quarantine"
    listed = (result.status or {}).get("quarantined")
    result.quarantined = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    result.kept_aside = result.damaged is not None and _aside(quarantine, result.damaged)
    if result.kind == "deleted":
        _judge_deleted(result)
        return
    by_file = {"record": _judge_record, "item": _judge_plain, "notify": _judge_plain,
               "transport": _judge_transport, "rerun": _judge_rerun, "lock": _judge_lock,
               "status": _judge_status}[result.file]
    by_file(result, original)


def _aside(quarantine: Path, damaged: bytes) -> bool:
    """Whether some file under ``quarantine`` holds exactly the damaged bytes."""
    if not quarantine.is_dir():
        return False
    for path in quarantine.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_size == len(damaged) and path.read_bytes() == damaged:
                return True
    return False


def _listed(result: CaseResult) -> bool:
    name = Path(result.path).name
    return any(str(e.get("file", "")).endswith(name) and str(e.get("reason", "")).strip()
               for e in result.quarantined)


def _expect_quarantine(result: CaseResult) -> None:
    if not result.kept_aside:
        result.problems.append(f"the damaged {result.path} was not moved to <state>/quarantine/")
    if not _listed(result):
        result.problems.append(f"'stoker status --json' does not list {result.path} under \"quarantined\" "
                               f"(with a file and a reason); it has {result.quarantined!r}")


def _judge_plain(result: CaseResult, _original: bytes) -> None:
    _expect_quarantine(result)


def _judge_record(result: CaseResult, original: bytes) -> None:
    _expect_quarantine(result)
    sent = result.new_signals.get(RECORD_VICTIM, [])
    failures = [p for p in sent if isinstance(p, dict) and p.get("deploy_status_code") not in (0, None)
                and any(w in str(p.get("deploy_stderr", "")).lower() for w in DAMAGE_WORDS)]
    if len(failures) != 1 or len(sent) != 1:
        result.problems.append(f"Heat should get exactly one new failure signal for {RECORD_VICTIM} whose "
                               f"deploy_stderr says its record was damaged; it got {len(sent)}: "
                               f"{[_brief(p) for p in sent]}")


def _judge_transport(result: CaseResult, _original: bytes) -> None:
    _expect_quarantine(result)
    once = [c for c in result.commands if c.args[:2] == ["run", "--once"]]
    if result.polled == 0 or any(c.code == 6 for c in once):
        result.problems.append("with transport.json damaged, 'stoker run --once' should fall back to the config "
                               f"file's [cfn] section and poll; it polled {result.polled} times, exits "
                               f"{[c.code for c in once]}")


def _judge_rerun(result: CaseResult, original: bytes) -> None:
    """A damaged rerun request is either honoured (the deployment runs once more, as the operator
    asked) or set aside as damaged (then it must not run again); nothing else."""
    honoured = result.reruns.get(RERUN_VICTIM, 0) == 1
    result.allowed_reruns = {RERUN_VICTIM: 1} if honoured else {}
    if result.damaged == original:
        result.must_report = False
        result.note = "the damaged content equals what stoker writes, so this is a valid request"
        if not honoured:
            result.problems.append(f"a valid rerun request for {RERUN_VICTIM} was not honoured")
        return
    if honoured:
        result.must_report = False
        result.note = "the request was honoured as a request: the deployment ran once more"
    else:
        _expect_quarantine(result)


def _judge_lock(result: CaseResult, _original: bytes) -> None:
    # The lock's content is advisory (the last holder's pid) and rewritten by every holder; moving
    # the file aside could even let two agents hold "the" lock at once. Surviving is what counts.
    result.must_report = False
    result.note = "the lock's content is advisory: surviving is what counts"


def _judge_status(result: CaseResult, _original: bytes) -> None:
    damaged = (result.damaged or b"").strip()
    if result.kind == "truncated" and damaged.isdigit():
        # Half of "137" is "13": a shorter number cannot be told from a real exit status.
        result.must_report = False
        result.note = "the truncated status still reads as an exit status: undetectable"
    else:
        _expect_quarantine(result)
    _expect_one_signal(result, STATUS_VICTIM)


def _judge_deleted(result: CaseResult) -> None:
    result.must_report = False
    if result.file == "record":
        # The record is the agent's memory that the deployment ran: deleted, the id looks new and the
        # agent may run it once more (it does today, and signals that run's result).
        result.allowed_reruns = {RECORD_VICTIM: 1}
        result.note = "a deleted record is forgotten memory: running the deployment again is allowed"
    elif result.file == "rerun":
        result.note = "a deleted rerun request is no request"
    if result.file == "status":
        _expect_one_signal(result, STATUS_VICTIM)


def _expect_one_signal(result: CaseResult, ident: str) -> None:
    sent = result.new_signals.get(ident, [])
    if len(sent) != 1:
        result.problems.append(f"{ident}, whose hook finished while no agent ran, should be signalled exactly "
                               f"once; Heat got {len(sent)} signal(s): {[_brief(p) for p in sent]}")


def _brief(payload: Any) -> str:
    if not isinstance(payload, dict):
        return repr(payload)[:200]
    return (f"status {payload.get('deploy_status_code')!r}, stderr "
            f"{str(payload.get('deploy_stderr', ''))[-200:]!r}")
