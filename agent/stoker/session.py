"""The lifetime of a processing command: hold the state directory, recover, deliver, let go.

``apply``, ``run`` and ``dispatch`` all need the same frame: the journal
lock (one agent per state directory), recovery of hooks interrupted by a
crash, the outbox thread delivering signals in the background, and on the way
out a bounded wait for this run's signals.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from . import hookcgroup
from .config import Settings
from .deployer import Deployer
from .httpclient import TLSOptions
from .journal import Journal, Record
from .metrics import MetricsFile
from .signals.outbox import Outbox


@dataclass
class AgentSession:
    settings: Settings
    journal: Journal
    outbox: Outbox
    deployer: Deployer
    recovered: list[Record]
    metrics: MetricsFile | None = None  # the metrics file, when ``metrics_file`` is set

    def wait_for_signals(self, seconds: float) -> bool:
        """Give pending signals up to ``seconds`` to go out; True when nothing is left pending."""
        return self.outbox.drain(time.monotonic() + seconds)


def tls_options(settings: Settings) -> TLSOptions:
    return TLSOptions(ca_file=settings.ca_certificate or None)


def follow_with_metrics(journal: Journal, settings: Settings) -> MetricsFile | None:
    """The metrics file that ``settings`` ask for, kept up to date with every change of the journal."""
    metrics = MetricsFile(settings.metrics_file, journal) if settings.metrics_file else None
    journal.on_change = metrics.refresh if metrics is not None else None
    if metrics is not None:
        metrics.refresh()
    return metrics


@contextlib.contextmanager
def open_session(settings: Settings, on_delivered: Callable[[Record], None] | None = None
                 ) -> Iterator[AgentSession]:
    """Lock the state, recover interrupted work, and deliver signals in the background until exit."""
    journal = Journal(settings.state_dir, settings.deployed_dir)
    with journal.locked():
        metrics = follow_with_metrics(journal, settings)
        outbox = Outbox(journal, retry_period=settings.signal_retry_period, timeout=max(settings.timeout, 30.0),
                        tls=tls_options(settings), on_delivered=on_delivered)
        deployer = Deployer(settings, journal, outbox, hook_env=settings.hook_environment)
        journal.apply_rerun_requests()
        outbox.retry_now()
        outbox.start()  # before recovery, which may wait for a hook the last agent left running
        try:
            hookcgroup.sweep_empty()
            journal.audit()
            recovered = deployer.recover()
        except BaseException:
            outbox.stop()
            raise
        try:
            yield AgentSession(settings, journal, outbox, deployer, recovered, metrics)
        finally:
            outbox.stop()
