"""status: the exit code ``stoker status`` gives for a set of records, and output with no secrets in it."""
from __future__ import annotations

import pytest

from stoker import status
from stoker.journal import FINISHED, RUNNING, Record, SignalState

pytestmark = pytest.mark.unit


def record(state=FINISHED, ok=True, signal="none"):
    """A journal record in the given state, as ``stoker status`` reads it."""
    return Record(key="k", id="k", name="n", group="script", action="CREATE", state=state, ok=ok,
                  signal=SignalState(state=signal))


def test_status_exit_code_precedence():
    assert status.exit_code([]) == status.OK
    assert status.exit_code([record()]) == status.OK
    assert status.exit_code([record(signal="delivered")]) == status.OK
    assert status.exit_code([record(signal="pending")]) == status.PENDING
    assert status.exit_code([record(state=RUNNING, ok=None)]) == status.PENDING
    assert status.exit_code([record(signal="failed"), record(signal="pending")]) == status.UNDELIVERABLE
    assert status.exit_code([record(ok=False), record(signal="failed")]) == status.FAILED


def test_status_json_redacts_reasons_and_errors():
    bad = record(ok=False, signal="failed")
    bad.reason = "POST http://h/?Signature=leakme failed"
    bad.signal.last_error = '{"password": "leaktoo"}'
    text = status.as_json([bad]) + status.as_table([bad])
    assert "leakme" not in text and "leaktoo" not in text
