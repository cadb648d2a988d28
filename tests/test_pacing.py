"""Fleet-friendly polling: each agent's steady polls fall on its own random phase, with jitter."""
from __future__ import annotations

import random

import pytest

from stoker.config import Settings
from stoker.pacing import PollClock

pytestmark = pytest.mark.unit


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def poll_times(clock: PollClock, fake: FakeClock, period: float, polls: int) -> list[float]:
    """Follow the clock's waits for ``polls`` polls; the times they happen."""
    times = []
    for _ in range(polls):
        fake.now += clock.wait(period, floor=1.0)
        times.append(fake.now)
    return times


def test_the_defaults_spread_polls_with_a_tenth_of_jitter():
    settings = Settings()
    assert settings.spread is True and settings.jitter == 0.1


def test_without_spread_or_jitter_the_wait_is_the_plain_interval():
    clock = PollClock(spread=False, jitter=0.0)
    assert [clock.wait(30.0) for _ in range(3)] == [30.0, 30.0, 30.0]


def test_jitter_alone_moves_each_wait_by_at_most_half_the_fraction_either_way():
    clock = PollClock(spread=False, jitter=0.2, rng=random.Random(7))
    waits = [clock.wait(10.0) for _ in range(500)]
    assert min(waits) >= 9.0 and max(waits) <= 11.0
    assert len(set(waits)) > 400, "every interval draws its own jitter"


def test_a_seeded_clock_repeats_its_draws():
    first = poll_times(PollClock(rng=random.Random(3), clock=(a := FakeClock())), a, 30.0, 10)
    second = poll_times(PollClock(rng=random.Random(3), clock=(b := FakeClock())), b, 30.0, 10)
    assert first == second


def test_agents_started_together_poll_at_phases_spread_over_the_interval():
    period, agents = 30.0, 200
    offsets = []
    for seed in range(agents):
        fake = FakeClock(1000.0)  # every agent starts at the same instant
        clock = PollClock(jitter=0.0, rng=random.Random(seed), clock=fake)
        first = poll_times(clock, fake, period, 1)[0]
        offsets.append(first % period)
    buckets = [0] * 10
    for offset in offsets:
        buckets[int(offset / period * 10)] += 1
    assert max(buckets) <= 2 * agents / 10, f"phases bunch up: {buckets}"
    assert min(buckets) >= agents / 10 / 3, f"phases leave a gap: {buckets}"


def test_steady_polls_keep_the_interval_on_average_and_never_wait_much_longer():
    fake = FakeClock()
    clock = PollClock(jitter=0.1, rng=random.Random(11), clock=fake)
    times = poll_times(clock, fake, 20.0, 400)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(20.0, rel=0.01), "the rate is one poll per interval"
    assert max(gaps) <= 20.0 * 1.1 and min(gaps) >= 20.0 * 0.9


def test_a_poll_that_costs_time_does_not_push_the_schedule_back():
    fake = FakeClock()
    clock = PollClock(jitter=0.0, rng=random.Random(5), clock=fake)
    fake.now += clock.wait(10.0)
    start = fake.now
    for _ in range(10):
        fake.now += 0.7  # the poll itself (a slow Heat)
        fake.now += clock.wait(10.0)
    assert fake.now == pytest.approx(start + 100.0)


def test_the_next_poll_is_never_sooner_than_the_floor():
    fake = FakeClock()
    clock = PollClock(jitter=0.1, rng=random.Random(2), clock=fake)
    for step in range(300):
        fake.now += 0.37 * step  # the loop wakes at odd times (a signal hurried it, say)
        assert clock.wait(5.0, floor=1.0) >= 1.0


def test_a_new_polling_interval_from_heat_gets_a_grid_of_its_own():
    fake = FakeClock()
    clock = PollClock(jitter=0.0, rng=random.Random(9), clock=fake)
    poll_times(clock, fake, 30.0, 3)
    wait = clock.wait(5.0, floor=1.0)
    assert 1.0 <= wait <= 6.0


def test_the_config_file_turns_spread_and_jitter_off(tmp_path):
    from stoker import config

    path = tmp_path / "stoker.conf"
    path.write_text("[DEFAULT]\nspread = false\njitter = 0\n")
    settings = config.load(str(path), env={})
    assert (settings.spread, settings.jitter) == (False, 0.0)


@pytest.mark.parametrize("line, word", [("spread = maybe", "true or false"), ("jitter = 1.5", "from 0 to 1")])
def test_a_bad_spread_or_jitter_names_the_key(tmp_path, line, word):
    from stoker import config

    path = tmp_path / "stoker.conf"
    path.write_text(f"[DEFAULT]\n{line}\n")
    with pytest.raises(config.ConfigError, match=word):
        config.load(str(path), env={})


def test_the_kernels_draws_are_uniform_in_the_unit_interval():
    from stoker.pacing import SystemDraws, uniform

    draws = [SystemDraws().random() for _ in range(2000)]
    assert min(draws) >= 0.0 and max(draws) < 1.0
    assert 0.4 < sum(draws) / len(draws) < 0.6
    assert all(2.0 <= uniform(2.0, 5.0) < 5.0 for _ in range(200))
