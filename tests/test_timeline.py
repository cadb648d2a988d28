"""The timeline in process: phases from journal records, the boot, blame order, JSON, SVG shapes."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stoker import timeline, timeline_svg
from stoker.journal import Record, SignalState
from stoker.pollstate import PollState

pytestmark = pytest.mark.unit

BOOT = "boot-now"
SVG = "{http://www.w3.org/2000/svg}"


def record(key, seen, started, finished, ok=True, boot=BOOT, signal=None, **extra):
    return Record(key=key, id=key, name=extra.pop("name", key), group="script", action="CREATE", tool="script",
                  state="finished" if finished is not None else "running", seen_at=seen, started_at=started,
                  finished_at=finished, duration=None if finished is None else finished - started,
                  ok=ok if finished is not None else None, boot_id=boot, signal=signal or SignalState(), **extra)


def attempts(*entries):
    return [{"at": at, "outcome": outcome, "http_status": status, "error": ""} for at, outcome, status in entries]


def delivered(history):
    return SignalState("CFN_SIGNAL", "delivered", attempts=len(history), delivered_at=history[-1]["at"] + 0.01,
                       history=history)


def test_phases_come_from_the_fetch_start_finish_and_signal_times():
    history = attempts((112.0, "retry", 503), (114.0, "retry", 503), (118.0, "delivered", None))
    lane = timeline.build([record("a", 100.0, 102.0, 110.0, signal=delivered(history))], None,
                          boot_id=BOOT, boot_at=50.0, now=200.0).lanes[0]
    assert lane.wait == pytest.approx(2.0) and lane.hook == pytest.approx(8.0)
    assert lane.signalling == pytest.approx(8.01) and lane.total(200.0) == pytest.approx(18.01)
    assert [a.outcome for a in lane.attempts] == ["retry", "retry", "delivered"]


def test_boot_to_all_signalled_counts_only_when_every_deployment_is_signalled():
    done = record("a", 100.0, 100.0, 101.0)   # NO_SIGNAL: signalled when it finished
    view = timeline.build([done], None, boot_id=BOOT, boot_at=40.0, now=200.0)
    assert view.all_signalled_at == 101.0 and "boot to all signalled: 61.00s" in timeline.as_text(view)
    waiting = record("b", 100.0, 101.0, 102.0, signal=SignalState("CFN_SIGNAL", "pending", attempts=1,
                                                                 history=attempts((103.0, "retry", 500))))
    view = timeline.build([done, waiting], None, boot_id=BOOT, boot_at=40.0, now=200.0)
    assert view.all_signalled_at is None
    assert "not all signalled yet: 1 signal(s) pending" in timeline.as_text(view)


def test_only_the_current_boot_is_shown_unless_everything_is_asked_for():
    old, new = record("old", 10.0, 10.0, 11.0, boot="earlier"), record("new", 100.0, 100.0, 101.0)
    view = timeline.build([old, new], None, boot_id=BOOT, boot_at=90.0, now=200.0)
    assert [l.key for l in view.lanes] == ["new"] and view.hidden == 1
    assert "1 deployment(s) of earlier boots not shown" in timeline.as_text(view)
    everything = timeline.build([old, new], None, boot_id=BOOT, boot_at=90.0, everything=True, now=200.0)
    assert [l.key for l in everything.lanes] == ["old", "new"] and everything.boot_at is None


def test_the_text_view_lists_the_longest_first_with_retries_and_the_agents_milestones():
    poll = PollState(pid=1, started_at=95.0, first_poll_at=96.0)
    slow = record("slow", 100.0, 100.0, 130.0)
    quick = record("quick", 100.0, 130.0, 131.0, ok=False, reason="exit status 3: boom")
    flaky = record("flaky", 100.0, 131.0, 132.0, signal=delivered(attempts((132.0, "retry", 503),
                                                                            (134.0, "delivered", None))))
    text = timeline.as_text(timeline.build([slow, quick, flaky], poll, boot_id=BOOT, boot_at=90.0, now=200.0))
    rows = [line for line in text.splitlines() if "(script CREATE)" in line]
    assert [row.split("FAILED" if "FAILED" in row else "OK")[1].split()[0] for row in rows] == \
        ["slow", "flaky", "quick"], "own time (hook + signal) first, not the wait behind others:\n" + text
    assert "agent started" in text and "first poll" in text and "boot " in text
    assert "+37.00s retry (503), +39.00s delivered" in text, "offsets count from the agent's start"
    assert "exit status 3: boom" in text


def test_the_json_view_has_every_phase_and_attempt():
    flaky = record("flaky", 100.0, 101.0, 102.0, signal=delivered(attempts((103.0, "refused", 403))))
    flaky.signal.state = "failed"
    data = timeline.as_json(timeline.build([flaky], None, boot_id=BOOT, boot_at=90.0, now=200.0))
    (lane,) = data["deployments"]
    assert (lane["wait"], lane["hook"], lane["signal_state"]) == (1.0, 1.0, "failed")
    assert lane["attempts"][0]["outcome"] == "refused" and lane["attempts"][0]["http_status"] == 403
    assert lane["attempts"][0]["at"].endswith("Z") and data["all_signalled_at"] is None


def test_the_svg_is_well_formed_self_contained_and_names_each_shape():
    history = attempts((112.0, "retry", 503), (118.0, "delivered", None))
    records = [record("a", 100.0, 102.0, 110.0, signal=delivered(history), name="<tricky & name>"),
               record("b", 100.0, 110.0, 111.0, ok=False), record("c", 100.0, 111.0, None)]
    svg = timeline_svg.render(timeline.build(records, None, boot_id=BOOT, boot_at=95.0, now=120.0))
    root = ET.fromstring(svg)
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    assert {"lane-0-wait", "lane-0-hook", "lane-0-signal", "lane-0-attempt-0", "lane-0-attempt-1",
            "lane-1-hook", "lane-1-failure", "lane-2-hook", "milestone-boot"} <= ids
    assert "lane-0-failure" not in ids and "lane-2-signal" not in ids
    hooks = {e.get("id"): e.get("fill") for e in root.iter(f"{SVG}rect")}
    assert hooks["lane-0-hook"] == timeline_svg.COLOURS["hook-ok"]
    assert hooks["lane-1-hook"] == timeline_svg.COLOURS["hook-failed"]
    assert hooks["lane-2-hook"] == timeline_svg.COLOURS["hook-running"]
    assert "<tricky &amp; name>" not in svg and "&lt;tricky &amp; name&gt;" in svg
    assert "href" not in svg and "<script" not in svg, "nothing outside the file is referenced"


def test_a_boot_long_before_the_deployments_is_noted_instead_of_squashing_the_lanes():
    view = timeline.build([record("a", 100_000.0, 100_000.0, 100_010.0)], None, boot_id=BOOT, boot_at=0.0,
                          now=100_020.0)
    svg = timeline_svg.render(view)
    assert "boot was 1d03h before the first event shown" in svg and "milestone-boot" not in svg


def test_boot_time_comes_from_the_kernels_btime(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n")
    assert timeline.boot_time(str(stat)) == 1700000000.0
    assert timeline.boot_time(str(tmp_path / "missing")) is None
