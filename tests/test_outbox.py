"""The outbox's delivery policy: once, retried when transient, final when refused, durable."""
import json
from pathlib import Path

import pytest

from stoker import payload
from stoker.journal import Journal
from stoker.metadata import parse_item
from stoker.signals import CFN, SignalError, transport_of
from stoker.signals.outbox import MAX_DELAY, Outbox, backoff

pytestmark = pytest.mark.unit

SIGNED = "http://127.0.0.1:1/v1/signal/arn?Timestamp=1&AWSAccessKeyId=AKID&Signature=SIGSIGSIG"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sender:
    """Fails with the queued errors, then succeeds; records every attempt."""

    def __init__(self, *errors: SignalError) -> None:
        self.errors = list(errors)
        self.sent: list[dict] = []

    def __call__(self, transport, inputs, body, context) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(json.loads(body))


def finished(tmp_path: Path, sender: Sender, clock: Clock, retry_period: float = 3600.0):
    journal = Journal(tmp_path / "state", tmp_path / "deployed")
    outbox = Outbox(journal, retry_period=retry_period, sender=sender, clock=clock)
    item = parse_item({"id": "d1", "name": "one", "group": "script",
                       "inputs": [{"name": "deploy_signal_id", "value": SIGNED},
                                  {"name": "deploy_signal_transport", "value": CFN}]})
    record = journal.begin(item, "script")
    journal.finish(record, payload.make("out"), True, "", outbox.new_state(transport_of(item.inputs)))
    return journal, outbox, record


def test_a_pending_signal_is_delivered_once(tmp_path):
    sender, clock = Sender(), Clock()
    journal, outbox, record = finished(tmp_path, sender, clock)
    assert outbox.deliver_due() == 1
    assert outbox.deliver_due() == 0
    assert sender.sent == [payload.make("out")]
    assert journal.get("d1").signal.state == "delivered"


def test_a_delivery_wakes_the_poller_before_it_is_recorded_and_is_then_recorded_durably(tmp_path):
    sender, clock = Sender(), Clock()
    journal, outbox, record = finished(tmp_path, sender, clock)
    woken = []
    outbox.on_delivered = lambda r: woken.append((r.key, r.signal.state))
    assert outbox.deliver_due() == 1
    assert woken == [("d1", "pending")], "the poller is woken first, so it fetches while the journal writes"
    assert Journal(tmp_path / "state", tmp_path / "deployed").get("d1").signal.state == "delivered"


def test_a_delivery_is_recorded_even_when_waking_the_poller_fails(tmp_path):
    sender, clock = Sender(), Clock()
    journal, outbox, record = finished(tmp_path, sender, clock)

    def broken(_record):
        raise RuntimeError("boom")
    outbox.on_delivered = broken
    assert outbox.deliver_due() == 1
    assert outbox.deliver_due() == 0 and len(sender.sent) == 1, "a delivered signal is not sent again"
    assert Journal(tmp_path / "state", tmp_path / "deployed").get("d1").signal.state == "delivered"


def test_a_transient_failure_is_retried_later_with_backoff(tmp_path):
    sender, clock = Sender(SignalError("503", transient=True, status=503)), Clock()
    journal, outbox, record = finished(tmp_path, sender, clock)
    assert outbox.deliver_due() == 0
    state = journal.get("d1").signal
    assert state.state == "pending" and state.attempts == 1 and state.http_status == 503
    assert state.next_attempt_at > clock.now
    assert outbox.deliver_due() == 0 and not sender.sent  # not due yet
    clock.now = state.next_attempt_at
    assert outbox.deliver_due() == 1 and len(sender.sent) == 1


def test_a_refusal_is_final_and_keeps_a_redacted_reason(tmp_path):
    error = SignalError(f"POST {SIGNED} answered 403: denied", transient=False, status=403)
    journal, outbox, record = finished(tmp_path, Sender(error), Clock())
    outbox.deliver_due()
    state = journal.get("d1").signal
    assert state.state == "failed" and state.http_status == 403
    assert "SIGSIGSIG" not in state.last_error and "AKID" not in state.last_error
    assert "auth_ttl" in state.last_error  # a CFN 403 says the URL may have expired


def test_transient_failures_give_up_when_the_retry_period_runs_out(tmp_path):
    clock = Clock()
    sender = Sender(*[SignalError("down", transient=True) for _ in range(100)])
    journal, outbox, record = finished(tmp_path, sender, clock, retry_period=60)
    for _ in range(50):
        outbox.deliver_due()
        clock.now = max(clock.now, journal.get("d1").signal.next_attempt_at)
        if journal.get("d1").signal.state != "pending":
            break
    state = journal.get("d1").signal
    assert state.state == "failed" and "gave up after" in state.last_error


def test_a_pending_signal_survives_a_restart(tmp_path):
    clock = Clock()
    journal, outbox, record = finished(tmp_path, Sender(SignalError("x", transient=True)), clock)
    outbox.deliver_due()
    sender = Sender()
    reopened = Journal(tmp_path / "state", tmp_path / "deployed")
    again = Outbox(reopened, retry_period=3600, sender=sender, clock=clock)
    again.retry_now()
    assert again.deliver_due() == 1 and sender.sent == [payload.make("out")]


def test_no_signal_items_owe_nothing(tmp_path):
    journal = Journal(tmp_path / "state", tmp_path / "deployed")
    outbox = Outbox(journal, retry_period=60, sender=Sender())
    assert outbox.new_state(transport_of({})).state == "none"


@pytest.mark.parametrize("attempts", [1, 2, 5, 30])
def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(attempts):
    low, high = backoff(attempts, rng=lambda: 0.0), backoff(attempts, rng=lambda: 1.0)
    assert low == pytest.approx(high / 2)
    assert high == min(MAX_DELAY, 2 ** (attempts - 1))


def test_each_attempt_is_kept_with_its_time_and_outcome(tmp_path):
    sender = Sender(SignalError("503 busy", transient=True, status=503),
                    SignalError("no answer", transient=True))
    clock = Clock()
    journal, outbox, record = finished(tmp_path, sender, clock)
    for now in (1000.0, 1010.0, 1050.0):
        clock.now = now
        record.signal.next_attempt_at = 0.0
        outbox.deliver_due()
    history = Journal(tmp_path / "state", tmp_path / "deployed").get("d1").signal.history
    assert [(h["at"], h["outcome"], h["http_status"]) for h in history] == [
        (1000.0, "retry", 503), (1010.0, "retry", None), (1050.0, "delivered", None)]
    assert "503 busy" in history[0]["error"] and history[2]["error"] == ""


def test_a_refused_attempt_is_kept_with_its_status_and_no_signature(tmp_path):
    sender, clock = Sender(SignalError(f"403 from {SIGNED}", transient=False, status=403)), Clock()
    journal, outbox, _ = finished(tmp_path, sender, clock)
    outbox.deliver_due()
    (attempt,) = journal.get("d1").signal.history
    assert (attempt["outcome"], attempt["http_status"]) == ("refused", 403)
    assert "SIGSIGSIG" not in attempt["error"]


def test_the_attempt_history_keeps_the_first_and_the_latest_attempts(tmp_path):
    from stoker.journal import HISTORY_LIMIT
    sender = Sender(*[SignalError(f"fail {n}", transient=True, status=500) for n in range(HISTORY_LIMIT + 5)])
    clock = Clock()
    journal, outbox, record = finished(tmp_path, sender, clock)
    for n in range(HISTORY_LIMIT + 6):
        clock.now = 1000.0 + n
        record.signal.next_attempt_at = 0.0
        outbox.deliver_due()
    signal = journal.get("d1").signal
    assert signal.attempts == HISTORY_LIMIT + 6 and signal.state == "delivered"
    assert len(signal.history) == HISTORY_LIMIT
    assert signal.history[0]["at"] == 1000.0, "the first attempt is kept"
    assert signal.history[-1]["outcome"] == "delivered"
    assert [h["at"] for h in signal.history[1:]] == [1000.0 + n for n in range(7, HISTORY_LIMIT + 6)]
