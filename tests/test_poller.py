"""The poller's timing: quick after start and where Heat chains deployments, steady otherwise and during an outage."""
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


def changing(poller: Poller) -> Poller:
    """Make the next poll find a new document (deploying nothing)."""
    poller._fetch = lambda: b'{"deployments": []}'
    poller._deploy = lambda document: None
    return poller


def signal_then_polls(poller: Poller, quiet: int) -> list[float]:
    """A signal is delivered; the intervals after its immediate poll and ``quiet`` more unchanged polls."""
    unchanged(poller)
    poller.hurry()
    assert poller.wakeup.is_set(), "a delivered signal must wake the loop for a poll now"
    poller.wakeup.clear()
    return intervals(poller, 1 + quiet)


def settled(tmp_path) -> Poller:
    """A poller past its first document and its start-up quick polls."""
    poller = changing(quiet_poller(tmp_path))
    poller.cycle()
    unchanged(poller)
    intervals(poller, 6)
    return poller


def test_a_delivered_signal_gets_one_poll_now_and_then_the_steady_schedule(tmp_path):
    poller = settled(tmp_path)
    assert signal_then_polls(poller, 2) == [30.0, 30.0, 30.0], \
        "where Heat has not chained deployments, a signal must not start quick polls (a fleet update's load)"


def test_a_deployment_found_in_a_signals_follow_up_makes_later_signals_look_again_quickly(tmp_path):
    poller = settled(tmp_path)
    signal_then_polls(poller, 0)          # the immediate poll found nothing; the next one is steady
    changing(poller).cycle()              # ... and it finds the next deployment: Heat chains them here
    assert signal_then_polls(poller, 4) == [2.0, 4.0, 8.0, 16.0, 30.0]


def test_a_follow_up_that_finds_nothing_ends_the_quick_polls(tmp_path):
    poller = settled(tmp_path)
    signal_then_polls(poller, 0)
    changing(poller).cycle()
    signal_then_polls(poller, 5)          # quick polls, then the first steady one: all unchanged
    assert signal_then_polls(poller, 1) == [30.0, 30.0]


def test_a_change_long_after_a_signal_is_not_taken_for_a_chain(tmp_path):
    poller = settled(tmp_path)
    signal_then_polls(poller, 2)          # the immediate poll and two steady ones: nothing
    changing(poller).cycle()              # a stack update, minutes later
    assert signal_then_polls(poller, 1) == [30.0, 30.0]


def test_an_unchanged_error_is_logged_once_then_every_twentieth_poll(tmp_path, caplog):
    poller = quiet_poller(tmp_path)
    with caplog.at_level(logging.ERROR, logger="stoker.poller"):
        for _ in range(40):
            assert poller.cycle() is False
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3 and messages[0].startswith("no metadata source is configured")
    assert messages[1].endswith("(still failing after 20 polls)") and messages[2].endswith("after 40 polls)")
