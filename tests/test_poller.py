"""The poller's timing: quick after activity, doubling up to the polling interval, steady during an outage."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from stoker import sourceconfig
from stoker.config import Settings
from stoker.journal import Journal
from stoker.poller import Poller

pytestmark = pytest.mark.unit

REQUEST = sourceconfig.SourceConfig(kind="request", settings={"metadata_url": "http://127.0.0.1:1/o"}, origin="test")


def quiet_poller(tmp_path, polling_interval: float = 30.0) -> Poller:
    """A poller whose machine names no metadata source: every cycle fails until a transport is set."""
    settings = Settings(state_dir=tmp_path / "state", deployed_dir=tmp_path / "deployed",
                        cfn_init_data=tmp_path / "cfn-init-data", os_collect_config=tmp_path / "occ.conf",
                        cfn_metadata_server=tmp_path / "cfn-metadata-server",
                        min_polling_interval=1.0, polling_interval=polling_interval,
                        spread=False, jitter=0.0)  # plain intervals: pacing has its own tests
    return Poller(settings, SimpleNamespace(journal=Journal(settings.state_dir, settings.deployed_dir)))


def unchanged(poller: Poller, hint: float | None = None) -> Poller:
    """Give the poller a source that always answers "unchanged" (with Heat's polling hint, if any)."""
    poller.source_config = sourceconfig.SourceConfig(REQUEST.kind, REQUEST.settings, REQUEST.origin, polling_interval=hint)
    poller._fetch = lambda: None
    return poller


def intervals(poller: Poller, cycles: int) -> list[float]:
    """The interval after each of ``cycles`` polls."""
    found = []
    for _ in range(cycles):
        poller.cycle()
        found.append(poller.interval())
    return found


def test_polling_starts_quick_and_doubles_with_each_quiet_poll_up_to_the_polling_interval(tmp_path):
    poller = unchanged(quiet_poller(tmp_path))
    assert poller.interval() == 1.0
    assert intervals(poller, 7) == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_heats_polling_hint_caps_the_interval(tmp_path):
    poller = unchanged(quiet_poller(tmp_path), hint=5.0)
    assert intervals(poller, 4) == [2.0, 4.0, 5.0, 5.0]


def test_a_failing_source_backs_off_the_same_way_and_an_answer_brings_the_interval_down(tmp_path):
    poller = quiet_poller(tmp_path)
    assert poller.source_config is None
    assert intervals(poller, 3) == [2.0, 4.0, 8.0]
    unchanged(poller)
    assert intervals(poller, 1) == [2.0], "the failures no longer count once the source answers"


def test_a_source_that_answered_once_and_then_fails_is_polled_at_the_steady_interval(tmp_path):
    poller = unchanged(quiet_poller(tmp_path))
    intervals(poller, 2)

    def overloaded():
        raise TimeoutError("timed out")

    poller._fetch = overloaded
    assert intervals(poller, 3) == [30.0, 30.0, 30.0], \
        "a failing Heat that answered before must not be polled faster than the interval"


def test_a_delivered_signal_hurries_the_next_poll_and_wakes_the_loop(tmp_path):
    poller = unchanged(quiet_poller(tmp_path))
    intervals(poller, 5)
    poller.hurry()
    assert poller.interval() == 1.0 and poller.wakeup.is_set()


def test_an_unchanged_error_is_logged_once_then_every_twentieth_poll(tmp_path, caplog):
    poller = quiet_poller(tmp_path)
    with caplog.at_level(logging.ERROR, logger="stoker.poller"):
        for _ in range(40):
            assert poller.cycle() is False
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3 and messages[0].startswith("no metadata source is configured")
    assert messages[1].endswith("(still failing after 20 polls)") and messages[2].endswith("after 40 polls)")
