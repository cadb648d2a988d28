"""A full disk ends in a failure signal that names it, not in a crash loop.

Servers fill their disks: logs, a package cache, a hook that prints far too
much. The agent's state, Heat's deployed dir and the script hook's working
and outputs dirs are put on a 4 MiB tmpfs, filled with a filler file until
about 128 KiB are left, and a deployment whose script prints 2 MB is
published. Heat must get a failure for it whose ``deploy_stderr`` says the
disk is full, the daemon must keep running (same process throughout), and
once the filler is removed the next deployment must succeed, without the
first being run again. Needs root (to mount the tmpfs); skipped otherwise.

The scenario code lives in ``bench/faults/disk.py`` (``full_disk``), shared with
``python -m bench faults``.
"""
from __future__ import annotations

import pytest

from bench.faults import FullDiskFigures, Unavailable, full_disk

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def disk_problems(figures: FullDiskFigures) -> list[str]:
    problems = []
    if not figures.signal_received:
        problems.append("Heat never got a signal for the deployment that hit the full disk: the stack would "
                        "wait until its timeout")
    elif figures.failure_code in (0, None) or not figures.says_disk_full:
        problems.append(f"the signal for the deployment that hit the full disk must be a failure whose "
                        f"deploy_stderr says 'disk is full'; it had status {figures.failure_code!r} and stderr "
                        f"{figures.failure_stderr[-600:]!r}")
    if figures.daemon_restarts or not figures.pid_unchanged:
        problems.append(f"the daemon exited {figures.daemon_restarts} time(s) (restarted by the test as systemd "
                        f"would): a full disk must not stop it")
    if not figures.recovered:
        problems.append("once space returned, the next deployment was never signalled")
    elif figures.after_code != 0:
        problems.append(f"once space returned, the next deployment failed (status {figures.after_code!r})")
    if figures.big_runs != 1:
        problems.append(f"the deployment that hit the full disk ran {figures.big_runs} times, not once")
    if figures.big_signals > 1:
        problems.append(f"the deployment that hit the full disk was signalled {figures.big_signals} times")
    return problems


def test_a_full_disk_is_signalled_as_a_failure_naming_it_and_the_daemon_carries_on_when_space_returns(tmp_path):
    try:
        figures = full_disk(tmp_path)
    except Unavailable as err:
        pytest.skip(f"the full-disk scenario needs a small tmpfs: {err}")
    problems = disk_problems(figures)
    assert not problems, ("full disk:\n- " + "\n- ".join(problems)
                          + f"\nlast lines of the agent's log:\n{figures.log_tail()}")
