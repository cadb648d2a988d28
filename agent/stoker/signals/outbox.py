"""The outbox: every finished deployment's signal is delivered once, or the operator sees why not.

The payload is already on disk (the journal wrote it before the first
attempt), so delivery survives restarts and reboots: at start every pending
signal is simply due again. Transient failures (no answer, 408, 429, 5xx) are
retried with exponential backoff and jitter, capped so that a signal goes out
within a minute of its endpoint coming back, or after the ``Retry-After``
the endpoint asked for, until the retry period runs out; any other refusal is
final and recorded with its status and redacted answer. Delivery runs in a
background thread, so hooks never wait for signals.

Errors are contained per signal: a record whose item or saved result cannot
be read fails alone, and anything unexpected while sending one signal is
retried later like a transient failure, never in a tight loop, never blocking
the other signals.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Callable

from .. import pacing, payload, redaction
from ..httpclient import TLSOptions
from ..metadata import parse_item
from ..journal import (ATTEMPT_DELIVERED, ATTEMPT_GAVE_UP, ATTEMPT_REFUSED, ATTEMPT_RETRY,
                       SIGNAL_DELIVERED, SIGNAL_FAILED, SIGNAL_NONE, SIGNAL_PENDING, Journal,
                       Record, SignalState)
from . import CFN, NONE, SendContext, SignalError, send

LOG = logging.getLogger("stoker.outbox")
FIRST_DELAY = 1.0
MAX_DELAY = 45.0      # with jitter the wait is 22-45 s: a signal goes out within a minute of recovery

Sender = Callable[[str, dict, bytes, SendContext], None]


class Outbox:
    """Delivers pending signals, now or later, from a background thread or on demand."""

    def __init__(self, journal: Journal, *, retry_period: float, timeout: float = 30.0,
                 tls: TLSOptions = TLSOptions(), sender: Sender = send,
                 clock: Callable[[], float] = time.time,
                 on_delivered: Callable[[Record], None] | None = None) -> None:
        self.journal = journal
        self.retry_period = retry_period
        self.context = SendContext(timeout=timeout, tls=tls)
        self.sender = sender
        self.clock = clock
        self.on_delivered = on_delivered
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # ------------------------------------------------------------ policy

    def new_state(self, transport: str) -> SignalState:
        """The signal state of a freshly finished deployment."""
        if transport == NONE:
            return SignalState(transport=NONE, state=SIGNAL_NONE)
        return SignalState(transport=transport, state=SIGNAL_PENDING, next_attempt_at=0.0,
                           deadline=self.clock() + self.retry_period)

    def pending(self) -> list[Record]:
        return self.journal.unsignalled()

    def next_due(self) -> float | None:
        """When the earliest pending signal is due (None when nothing is pending)."""
        times = [r.signal.next_attempt_at for r in self.pending()]
        return min(times) if times else None

    def deliver_due(self) -> int:
        """Attempt every signal that is due now; return how many were delivered."""
        delivered = 0
        for record in self.pending():
            if record.signal.next_attempt_at <= self.clock():
                delivered += self._attempt_contained(record)
        return delivered

    def _attempt_contained(self, record: Record) -> bool:
        """:meth:`attempt`, with anything unexpected turned into a later retry of this signal alone."""
        try:
            return self.attempt(record)
        except Exception as err:  # noqa: BLE001 - one bad record must not block the others
            LOG.exception("signal for %s failed unexpectedly", record.name or record.key)
            with contextlib.suppress(Exception):
                self._failed(record, record.signal.attempts + 1,
                             SignalError(f"stoker error: {type(err).__name__}: {err}", transient=True),
                             self.clock())
            if record.signal.state == SIGNAL_PENDING and record.signal.next_attempt_at <= self.clock():
                record.signal.next_attempt_at = self.clock() + backoff(record.signal.attempts + 1)
            return False

    def attempt(self, record: Record) -> bool:
        """One delivery attempt, with its outcome recorded in the journal."""
        item, problem = self.journal.item(record.key)
        body, body_problem = self.journal.payload(record.key)
        if item is None:
            self._give_up(record, f"cannot signal: {problem}", None)
            return False
        if body is None:
            body = payload.failure(f"the result of this deployment was recorded but cannot be read "
                                   f"({body_problem}); status {record.status_code}")
        parsed = parse_item(item)
        redaction.remember_secret_fields(item.get("inputs"))
        attempts = record.signal.attempts + 1
        started = self.clock()
        try:
            self.sender(record.signal.transport, parsed.inputs, json.dumps(body).encode("utf-8"), self.context)
        except SignalError as err:
            self._failed(record, attempts, err, started)
            return False
        delivered_at = self.clock()
        if self.on_delivered is not None:
            # First, so that the poller fetches Heat's next deployment while the delivery is being
            # recorded: a record that a crash keeps "pending" only means the signal is sent again.
            try:
                self.on_delivered(record)
            except Exception:  # noqa: BLE001 - the delivery stands and is recorded whatever the callback did
                LOG.exception("after the signal for %s was delivered", record.name or record.key)
        self.journal.update_signal(record, state=SIGNAL_DELIVERED, attempts=attempts,
                                   delivered_at=delivered_at, last_error="", http_status=None,
                                   history=record.signal.with_attempt(started, ATTEMPT_DELIVERED))
        LOG.info("signal for %s delivered (%s, attempt %d)", record.name or record.key,
                 record.signal.transport, attempts)
        return True

    def _failed(self, record: Record, attempts: int, err: SignalError, started: float) -> None:
        """Record a failed attempt (begun at ``started``): retried later, refused, or given up on."""
        message = redaction.redact(str(err))
        if err.status == 403 and record.signal.transport == CFN:
            message += (" (the pre-signed CFN signal URL may have expired: it is refused once it is "
                        "older than Keystone's [credential] auth_ttl, 15 minutes by default; an admin "
                        "can still finish the deployment with 'openstack stack resource signal')")
        if not err.transient:
            self._give_up(record, message, err.status, attempts,
                          record.signal.with_attempt(started, ATTEMPT_REFUSED, err.status, message))
            return
        now = self.clock()
        if now >= record.signal.deadline:
            self._give_up(record, f"gave up after {attempts} attempts: {message}", err.status, attempts,
                          record.signal.with_attempt(started, ATTEMPT_GAVE_UP, err.status, message))
            return
        delay = retry_delay(attempts, err)
        self.journal.update_signal(record, attempts=attempts, last_error=message, http_status=err.status,
                                   next_attempt_at=min(now + delay, record.signal.deadline),
                                   history=record.signal.with_attempt(started, ATTEMPT_RETRY, err.status, message))
        LOG.warning("signal for %s not delivered (attempt %d), retrying in %.0fs: %s",
                    record.name or record.key, attempts, delay, message)

    def _give_up(self, record: Record, message: str, status: int | None, attempts: int | None = None,
                 history: list[dict] | None = None) -> None:
        """Mark the signal failed for good; ``history`` holds the final attempt, if one was made."""
        self.journal.update_signal(record, state=SIGNAL_FAILED, last_error=message, http_status=status,
                                   attempts=attempts if attempts is not None else record.signal.attempts,
                                   history=history if history is not None else record.signal.history)
        LOG.error("signal for %s failed for good: %s", record.name or record.key, message)

    def retry_now(self) -> None:
        """Make every pending signal due at once (a one-shot command's first step)."""
        for record in self.pending():
            if record.signal.next_attempt_at > 0:
                self.journal.update_signal(record, next_attempt_at=0.0)

    # ------------------------------------------------------------ thread

    def start(self) -> None:
        """Deliver in the background from now on."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stoker-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tell the background thread that something new is pending."""
        with self._wake:
            self._wake.notify_all()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def drain(self, deadline: float) -> bool:
        """Wait until nothing is pending or ``deadline`` (monotonic) passes; True when all went out."""
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            with self._wake:
                self._wake.wait(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        return True

    def _sleep_after_error(self) -> None:
        """After an unexpected error outside any one signal: pause, so that nothing spins."""
        with self._wake:
            if not self._stopping:
                self._wake.wait(timeout=FIRST_DELAY)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
            try:
                self.deliver_due()
            except Exception:  # noqa: BLE001 - the sender must outlive any one bad record
                LOG.exception("signal delivery failed unexpectedly")
                self._sleep_after_error()
            with self._wake:
                if self._stopping:
                    return
                self._wake.notify_all()
                self._wake.wait(timeout=self._idle_wait())

    def _idle_wait(self) -> float:
        """Seconds until the next signal is due (at most 30); a second when that cannot be told."""
        try:
            due = self.next_due()
        except Exception:  # noqa: BLE001 - the sender thread must never die
            LOG.exception("cannot tell when the next signal is due")
            return FIRST_DELAY
        return 30.0 if due is None else max(0.0, min(30.0, due - self.clock()))


def backoff(attempts: int, rng: Callable[[], float] = pacing.SystemDraws().random) -> float:
    """Exponential delay with jitter: about 1, 2, 4 ... seconds, at most :data:`MAX_DELAY`."""
    base = min(MAX_DELAY, FIRST_DELAY * (2 ** min(max(attempts, 1) - 1, 30)))
    return base * (0.5 + rng() / 2)


def retry_delay(attempts: int, err: SignalError) -> float:
    """How long to wait before the next attempt: what the endpoint asked for, else the backoff.

    ``Retry-After: 0`` still waits :data:`FIRST_DELAY`, so that an endpoint
    that keeps asking for no wait is not hit in a tight loop.
    """
    if err.retry_after is not None:
        return max(FIRST_DELAY, err.retry_after)
    return backoff(attempts)
