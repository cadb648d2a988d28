"""The timeline of what happened on this machine (``stoker analyze``), built from the journal.

Per deployment: when its document was fetched (``seen_at``), when its hook
started and finished, each signal attempt and when the signal was delivered;
around them, when the agent started and first polled (``polling.json``), and
when the machine booted. From these come the phases an operator asks about:
how long a deployment waited behind earlier ones, how long its hook ran, how
long its signal took to reach Heat (retries included), and how long it took
from boot until every deployment was signalled.

By default only the deployments of the current boot are shown (like
``systemd-analyze``); the rest of the journal is there with ``everything``.
Text views for people are :func:`as_text`; :func:`as_json` is for scripts;
the picture is drawn by :mod:`stoker.timeline_svg`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from .journal import FINISHED, SIGNAL_DELIVERED, SIGNAL_FAILED, SIGNAL_NONE, SIGNAL_PENDING, Record
from .pollstate import PollState
from .redaction import redact
from .status import iso_time

PROC_STAT = "/proc/stat"


@dataclass
class Attempt:
    """One signal delivery attempt: when it began and what came of it."""

    at: float
    outcome: str            # delivered, retry, refused, gave_up (journal.ATTEMPT_*)
    http_status: int | None = None


@dataclass
class Lane:
    """One deployment run on the timeline."""

    key: str
    name: str
    group: str
    action: str
    result: str             # ok, failed, running
    seen_at: float
    started_at: float | None
    finished_at: float | None
    transport: str
    signal_state: str       # none, pending, delivered, failed
    attempts: list[Attempt] = field(default_factory=list)
    attempt_count: int = 0  # every attempt, also those the bounded history left out
    delivered_at: float | None = None
    reason: str = ""

    @property
    def wait(self) -> float:
        """Seconds between fetching the document and starting the hook (queued behind others)."""
        return max(0.0, (self.started_at or self.seen_at) - self.seen_at)

    @property
    def hook(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)

    @property
    def signalled_at(self) -> float | None:
        """When Heat had the result: delivery, or the finish when no signal was owed."""
        if self.signal_state == SIGNAL_DELIVERED:
            return self.delivered_at or (self.attempts[-1].at if self.attempts else self.finished_at)
        if self.signal_state == SIGNAL_NONE and self.finished_at is not None:
            return self.finished_at
        return None

    @property
    def signalling(self) -> float | None:
        """Seconds from the hook's end to the signal's delivery (or its last attempt when it failed)."""
        if self.finished_at is None or self.signal_state == SIGNAL_NONE:
            return None
        end = self.signalled_at or (self.attempts[-1].at if self.attempts else None)
        return None if end is None else max(0.0, end - self.finished_at)

    def end(self, now: float) -> float:
        """The lane's last moment: signalled, last attempt, finish, or now while still going."""
        ends = [self.seen_at, self.started_at or 0.0, self.finished_at or 0.0,
                self.delivered_at or 0.0, *(a.at for a in self.attempts)]
        if self.result == "running" or self.signal_state == SIGNAL_PENDING:
            ends.append(now)
        return max(ends)

    def total(self, now: float) -> float:
        """From the fetch to the signal: the wait behind earlier deployments included."""
        return max(0.0, self.end(now) - self.seen_at)

    def own(self, now: float) -> float:
        """The deployment's own time: its hook and its signal, not the wait behind others (the blame order)."""
        return max(0.0, self.end(now) - (self.started_at if self.started_at is not None else self.seen_at))


@dataclass
class Timeline:
    """Every lane, plus the agent's and the machine's milestones (Unix times, None when unknown)."""

    lanes: list[Lane]
    now: float
    boot_at: float | None = None
    agent_started_at: float | None = None
    first_poll_at: float | None = None
    hidden: int = 0             # records left out (other boots)

    @property
    def all_signalled_at(self) -> float | None:
        """When the last deployment was signalled; None while any is running, pending or failed."""
        if not self.lanes:
            return None
        times = [lane.signalled_at for lane in self.lanes]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    @property
    def start(self) -> float:
        """The origin of the text view's offsets: the agent's start, its first poll or the first fetch.

        The boot is a milestone with its own (negative) offset: a server up for
        weeks would otherwise give every offset seven digits.
        """
        events = [lane.seen_at for lane in self.lanes] + \
            [t for t in (self.agent_started_at, self.first_poll_at) if t]
        return min(events) if events else self.now

    @property
    def end(self) -> float:
        ends = [lane.end(self.now) for lane in self.lanes] + \
            [t for t in (self.agent_started_at, self.first_poll_at) if t]
        return max(ends) if ends else self.now


def build(records: Iterable[Record], polling: PollState | None, *, boot_id: str | None,
          boot_at: float | None, everything: bool = False, now: float | None = None) -> Timeline:
    """The timeline of ``records`` (only the current boot's unless ``everything``)."""
    records = list(records)
    now = time.time() if now is None else now
    this_boot = [r for r in records if boot_id is not None and r.boot_id == boot_id]
    chosen = records if everything or not this_boot else this_boot
    lanes = sorted((_lane(r) for r in chosen),
                   key=lambda lane: (lane.seen_at, lane.started_at or float("inf"), lane.key))
    agent_started = polling.started_at if polling and polling.started_at else None
    first_poll = polling.first_poll_at if polling else None
    return Timeline(lanes=lanes, now=now,
                    boot_at=boot_at if this_boot and not everything else None,
                    agent_started_at=agent_started, first_poll_at=first_poll,
                    hidden=len(records) - len(chosen))


def _lane(record: Record) -> Lane:
    signal = record.signal
    if record.state != FINISHED:
        result = "running"
    else:
        result = "ok" if record.ok else "failed"
    attempts = [Attempt(float(a["at"]), str(a["outcome"]), a.get("http_status")) for a in signal.history]
    return Lane(key=record.key, name=record.name or record.key, group=record.tool or record.group,
                action=record.action, result=result, seen_at=record.seen_at or record.started_at or 0.0,
                started_at=record.started_at, finished_at=record.finished_at, transport=signal.transport,
                signal_state=signal.state, attempts=attempts, attempt_count=signal.attempts,
                delivered_at=signal.delivered_at, reason=redact(record.reason))


def boot_time(path: str = PROC_STAT) -> float | None:
    """When this boot began (the kernel's ``btime``), None where it cannot be read."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


# ------------------------------------------------------------------ people


def as_text(timeline: Timeline) -> str:
    """Milestones, then one line per deployment, longest own time (hook + signal) first, like
    ``systemd-analyze blame``; the wait behind earlier deployments and the total are beside it."""
    if not timeline.lanes:
        return "no deployments known" + _hidden_note(timeline)
    origin = timeline.start
    lines = [_headline(timeline), ""]
    lines += [f"{label:28} {_offset(at, origin):>10}  {iso_time(at)}" for label, at in _milestones(timeline)]
    signalled = timeline.all_signalled_at
    if signalled is not None and timeline.boot_at is not None:
        lines.append(f"boot to all signalled: {signalled - timeline.boot_at:.2f}s")
    elif signalled is None:
        lines.append(f"not all signalled yet: {_unsettled(timeline)}")
    lines += ["", f"{'HOOK':>9} {'SIGNAL':>8} {'WAIT':>8} {'TOTAL':>9} {'TRIES':>5}  {'RESULT':7} DEPLOYMENT"]
    for lane in sorted(timeline.lanes, key=lambda l: l.own(timeline.now), reverse=True):
        lines.append(f"{_secs(lane.hook):>9} {_secs(lane.signalling):>8} {_secs(lane.wait):>8} "
                     f"{_secs(lane.total(timeline.now)):>9} {lane.attempt_count or '':>5}  {_result(lane):7} "
                     f"{lane.name} ({lane.group} {lane.action}) at {_offset(lane.seen_at, origin)}")
        if lane.attempts and (len(lane.attempts) > 1 or lane.attempts[0].outcome != "delivered"):
            lines.append(f"{'':43}signal: " + ", ".join(
                f"{_offset(a.at, origin)} {a.outcome}{f' ({a.http_status})' if a.http_status else ''}"
                for a in lane.attempts))
        if lane.reason:
            lines.append(f"{'':43}{lane.reason}")
    return "\n".join(lines) + _hidden_note(timeline)


def _headline(timeline: Timeline) -> str:
    count = len(timeline.lanes)
    since = f"since boot at {iso_time(timeline.boot_at)}" if timeline.boot_at else "in the journal"
    return f"{count} deployment{'s' if count != 1 else ''} {since}; times are offsets from " \
        f"{iso_time(timeline.start)}"


def _milestones(timeline: Timeline) -> list[tuple[str, float]]:
    found = [("boot", timeline.boot_at), ("agent started", timeline.agent_started_at),
             ("first poll", timeline.first_poll_at),
             ("first deployment fetched", min(l.seen_at for l in timeline.lanes)),
             ("all deployments signalled", timeline.all_signalled_at)]
    return [(label, at) for label, at in found if at]


def _unsettled(timeline: Timeline) -> str:
    running = sum(1 for l in timeline.lanes if l.result == "running")
    pending = sum(1 for l in timeline.lanes if l.signal_state == SIGNAL_PENDING)
    failed = sum(1 for l in timeline.lanes if l.signal_state == SIGNAL_FAILED)
    parts = [f"{n} {what}" for n, what in ((running, "running"), (pending, "signal(s) pending"),
                                           (failed, "signal(s) failed for good")) if n]
    return ", ".join(parts) or "nothing to signal"


def _hidden_note(timeline: Timeline) -> str:
    if not timeline.hidden:
        return ""
    return f"\n({timeline.hidden} deployment(s) of earlier boots not shown; --all shows them)"


def _result(lane: Lane) -> str:
    if lane.result == "running":
        return "RUNNING"
    if lane.result == "failed":
        return "FAILED"
    return "OK" if lane.signal_state != SIGNAL_FAILED else "UNSENT"


# ------------------------------------------------------------------ scripts


def as_json(timeline: Timeline) -> dict[str, Any]:
    """The timeline for scripts: ISO times, and seconds for each phase."""
    now = timeline.now
    return {
        "boot_at": iso_time(timeline.boot_at), "agent_started_at": iso_time(timeline.agent_started_at),
        "first_poll_at": iso_time(timeline.first_poll_at), "all_signalled_at": iso_time(timeline.all_signalled_at),
        "boot_to_all_signalled": None if timeline.boot_at is None or timeline.all_signalled_at is None
        else round(timeline.all_signalled_at - timeline.boot_at, 3),
        "hidden": timeline.hidden,
        "deployments": [{
            "key": lane.key, "name": lane.name, "group": lane.group, "action": lane.action,
            "result": lane.result, "transport": lane.transport, "signal_state": lane.signal_state,
            "seen_at": iso_time(lane.seen_at), "started_at": iso_time(lane.started_at),
            "finished_at": iso_time(lane.finished_at), "delivered_at": iso_time(lane.delivered_at),
            "wait": round(lane.wait, 3), "hook": _round(lane.hook), "signalling": _round(lane.signalling),
            "total": round(lane.total(now), 3), "attempt_count": lane.attempt_count,
            "attempts": [{"at": iso_time(a.at), "outcome": a.outcome, "http_status": a.http_status}
                         for a in lane.attempts],
            "reason": lane.reason,
        } for lane in timeline.lanes],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _offset(at: float, origin: float) -> str:
    return f"+{at - origin:.2f}s" if at >= origin else f"-{origin - at:.2f}s"


