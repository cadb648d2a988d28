"""The metrics file: what the journal and the poller know, as Prometheus text for node_exporter.

node_exporter's textfile collector reads ``*.prom`` files from one directory
at every scrape; the agent rewrites its file (``metrics_file`` in
stoker.conf) after every change: a deployment started or finished, a signal
attempt, a poll. The file is replaced atomically (a temporary name without
``.prom``, then a rename), so a scrape never sees half a file. Everything is
computed from the journal's records and the last poll, so the numbers agree
with ``stoker status`` and survive restarts (counters count what the journal
holds; ``stoker rerun`` forgetting a record looks like a counter reset).

Writing metrics is a courtesy: it never raises and never stops the agent. A
write that fails (a full disk, a missing directory that cannot be made) is
logged once, and again only after a write has succeeded in between.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Iterable

from . import __version__, fsutil
from .journal import FINISHED, SIGNAL_DELIVERED, SIGNAL_FAILED, SIGNAL_PENDING, Journal, Record
from .pollstate import PollState, PollStateFile

LOG = logging.getLogger("stoker.metrics")
# Hook durations span a second (a script) to an hour (a long puppet run): the buckets follow.
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)

# name -> (type, help): the one list of what the file holds (README.md, "Metrics").
METRICS: dict[str, tuple[str, str]] = {
    "stoker_agent_info": ("gauge", "The agent's version and the metadata source it polls (always 1)."),
    "stoker_agent_start_timestamp_seconds": ("gauge", "When the polling agent started (Unix time)."),
    "stoker_deployments": ("gauge", "Deployment runs in the journal by group and result "
                                    "(succeeded, failed, running)."),
    "stoker_deployments_failing": ("gauge", "Deployments whose newest run failed (what makes "
                                            "`stoker status` exit 1)."),
    "stoker_hook_duration_seconds": ("histogram", "How long finished deployments' hooks ran, by group."),
    "stoker_signals_pending": ("gauge", "Signals waiting for a (first or next) delivery attempt."),
    "stoker_signals_failed": ("gauge", "Signals refused for good or given up on: Heat will not hear of them."),
    "stoker_signals_delivered_total": ("counter", "Signals delivered to Heat, by signal transport."),
    "stoker_signal_attempts_total": ("counter", "Signal delivery attempts, by signal transport."),
    "stoker_signal_failed_attempts_total": ("counter", "Signal delivery attempts that failed "
                                                       "(retried or final), by signal transport."),
    "stoker_signal_refusals_total": ("counter", "Signals refused for good or given up on, by signal "
                                                "transport and the last HTTP status (none: no answer)."),
    "stoker_polls_total": ("counter", "Polls of the metadata source since the agent started."),
    "stoker_poll_errors_total": ("counter", "Failed polls of the metadata source since the agent started."),
    "stoker_poll_failing": ("gauge", "1 while the latest polls of the metadata source fail, else 0."),
    "stoker_poll_interval_seconds": ("gauge", "The longest pause between polls."),
    "stoker_last_poll_timestamp_seconds": ("gauge", "When the agent last polled (Unix time)."),
    "stoker_last_successful_poll_timestamp_seconds": ("gauge", "When a poll last got an answer (Unix time)."),
    "stoker_last_change_timestamp_seconds": ("gauge", "When the metadata last changed (Unix time)."),
    "stoker_quarantined_files": ("gauge", "Damaged state files set aside in the quarantine."),
}


class MetricsFile:
    """Rewrites ``path`` from the journal and the last poll; :meth:`refresh` never raises."""

    def __init__(self, path: Path, journal: Journal) -> None:
        self.path = path
        self.journal = journal
        self.poll_state: PollState | None = PollStateFile(journal.state_dir).load()
        self._lock = threading.Lock()
        self._warned = False

    def polled(self, state: PollState) -> None:
        """After a poll: keep its state and rewrite the file."""
        self.poll_state = state
        self.refresh()

    def refresh(self, _record: Record | None = None) -> None:
        """Rewrite the file from what is known now; a failure is logged once, never raised."""
        try:
            with self._lock:
                text = render(self.journal.records(), self.poll_state, self._quarantined())
                fsutil.ensure_dir(self.path.parent, mode=0o755)
                fsutil.atomic_write(self.path, text.encode("utf-8"), mode=0o644, durable=False)
        except Exception as err:  # noqa: BLE001 - metrics must never stop the agent
            if not self._warned:
                LOG.warning("cannot write the metrics file %s (%s); trying again after the next change",
                            self.path, getattr(err, "strerror", None) or err)
            self._warned = True
        else:
            self._warned = False

    def _quarantined(self) -> int:
        try:
            return len(self.journal.quarantine.entries())
        except Exception:  # noqa: BLE001 - a count for a gauge is not worth failing over
            return 0


def render(records: Iterable[Record], poll: PollState | None, quarantined: int = 0) -> str:
    """The whole file, in the Prometheus text exposition format (version 0.0.4)."""
    records = list(records)
    samples: dict[str, list[tuple[str, dict[str, str], float]]] = {name: [] for name in METRICS}
    _agent(samples, poll)
    _deployments(samples, records)
    _signals(samples, records)
    samples["stoker_quarantined_files"].append(("", {}, quarantined))
    lines = []
    for name, (kind, text) in METRICS.items():
        if not samples[name]:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{suffix}{_labels(labels)} {_number(value)}" for suffix, labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def _agent(samples: dict, poll: PollState | None) -> None:
    source = poll.source if poll else ""
    origin = poll.origin if poll else ""
    samples["stoker_agent_info"].append(("", {"version": __version__, "source": source, "origin": origin}, 1))
    if poll is None:
        return
    samples["stoker_agent_start_timestamp_seconds"].append(("", {}, poll.started_at))
    samples["stoker_polls_total"].append(("", {}, poll.polls))
    samples["stoker_poll_errors_total"].append(("", {}, poll.errors))
    samples["stoker_poll_failing"].append(("", {}, 1 if poll.failing else 0))
    samples["stoker_poll_interval_seconds"].append(("", {}, poll.interval))
    for name, value in (("stoker_last_poll_timestamp_seconds", poll.last_poll_at),
                        ("stoker_last_successful_poll_timestamp_seconds", poll.last_success_at),
                        ("stoker_last_change_timestamp_seconds", poll.last_change_at)):
        if value:
            samples[name].append(("", {}, value))


def _deployments(samples: dict, records: list[Record]) -> None:
    from .status import current  # the one rule of which run of a deployment counts

    results = Counter((_group(r), _result(r)) for r in records)
    for (group, result), count in sorted(results.items()):
        samples["stoker_deployments"].append(("", {"group": group, "result": result}, count))
    samples["stoker_deployments_failing"].append(
        ("", {}, sum(1 for r in current(records) if r.state == FINISHED and r.ok is False)))
    durations: dict[str, list[float]] = {}
    for record in records:
        if record.state == FINISHED and record.duration is not None and record.duration >= 0:
            durations.setdefault(_group(record), []).append(record.duration)
    for group, values in sorted(durations.items()):
        for bound in DURATION_BUCKETS:
            samples["stoker_hook_duration_seconds"].append(
                ("_bucket", {"group": group, "le": _number(bound)}, sum(1 for v in values if v <= bound)))
        samples["stoker_hook_duration_seconds"] += [
            ("_bucket", {"group": group, "le": "+Inf"}, len(values)),
            ("_sum", {"group": group}, sum(values)),
            ("_count", {"group": group}, len(values))]


def _signals(samples: dict, records: list[Record]) -> None:
    owed = [r for r in records if r.state == FINISHED and r.signal.state in
            (SIGNAL_PENDING, SIGNAL_DELIVERED, SIGNAL_FAILED)]
    samples["stoker_signals_pending"].append(("", {}, sum(1 for r in owed if r.signal.state == SIGNAL_PENDING)))
    samples["stoker_signals_failed"].append(("", {}, sum(1 for r in owed if r.signal.state == SIGNAL_FAILED)))
    delivered, attempts, failed, refusals = Counter(), Counter(), Counter(), Counter()
    for record in owed:
        transport, signal = record.signal.transport, record.signal
        attempts[transport] += signal.attempts
        delivered[transport] += signal.state == SIGNAL_DELIVERED
        failed[transport] += signal.attempts - (signal.state == SIGNAL_DELIVERED)
        if signal.state == SIGNAL_FAILED:
            refusals[(transport, str(signal.http_status) if signal.http_status else "none")] += 1
    for transport in sorted(attempts):
        samples["stoker_signals_delivered_total"].append(("", {"transport": transport}, delivered[transport]))
        samples["stoker_signal_attempts_total"].append(("", {"transport": transport}, attempts[transport]))
        samples["stoker_signal_failed_attempts_total"].append(("", {"transport": transport}, failed[transport]))
    for (transport, status), count in sorted(refusals.items()):
        samples["stoker_signal_refusals_total"].append(("", {"transport": transport, "status": status}, count))


def _group(record: Record) -> str:
    """The group that ran (a component's entry's tool), as ``stoker status`` shows it."""
    return record.tool or record.group or "unknown"


def _result(record: Record) -> str:
    if record.state != FINISHED:
        return "running"
    return "succeeded" if record.ok else "failed"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
