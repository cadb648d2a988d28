"""Issue 14: ``stoker analyze`` over a real run, and its picture as a real renderer draws it.

``stoker apply`` runs three deployments against the loopback cloud (one whose signal is
refused twice with 503 before it is delivered, one whose script fails, one whose signal
is refused for good with 403); ``stoker analyze`` then reads the journal as a process.
The SVG is rendered to PNG by ``rsvg-convert`` (Debian's librsvg2-bin) and the picture
is checked pixel by pixel where each lane's phases, retries and failure marks must be.
"""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from stoker import timeline_svg
from tests import png_reader
from tests.agent_helpers import Agent
from tests.loopback import Cloud
from tests.test_signals import apply, deployment, input_value, signal_path, write_config

pytestmark = pytest.mark.contract

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """An agent whose journal holds the three deployments' story (made once: analyze only reads it)."""
    with Cloud() as cloud:
        yield _run_three(Agent(tmp_path_factory.mktemp("analysed")), cloud)


def _run_three(agent: Agent, cloud: Cloud) -> Agent:
    write_config(agent)
    flaky = deployment(cloud, "a-flaky", script="#!/bin/sh\nsleep 1\necho fine\n")
    cloud.cfn.fail_next(503, count=2, method="POST", path=signal_path(input_value(flaky, "deploy_signal_id")))
    broken = deployment(cloud, "b-broken", script="#!/bin/sh\nsleep 1\necho boom >&2\nexit 3\n")
    refused = deployment(cloud, "c-refused", script="#!/bin/sh\nsleep 0.5\n")
    cloud.cfn.fail_next(403, count=None, method="POST", path=signal_path(input_value(refused, "deploy_signal_id")))
    result = apply(agent, [flaky, broken, refused], "--signal-wait", "30")
    assert result.returncode == 1, result.stdout + result.stderr
    return agent


def colour_near(got, want_hex, tolerance=10):
    want = tuple(int(want_hex[i:i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(got, want)), f"{got} is not {want_hex} {want}"


def test_the_text_view_blames_the_slowest_first_and_shows_each_attempt(analysed):
    result = analysed.run("analyze")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    rows = [line for line in text.splitlines() if "(script CREATE)" in line]
    assert len(rows) == 3, text
    own = [sum(float(col.rstrip("s")) for col in row.split()[:2] if col != "-") for row in rows]
    assert all(a >= b - 0.02 for a, b in zip(own, own[1:])), \
        f"longest own time (hook + signal) first, like systemd-analyze blame:\n{text}"
    assert " a-flaky (script" in rows[0], "the retried signal makes a-flaky the longest"
    flaky_row = next(i for i, line in enumerate(text.splitlines()) if "a-flaky (script" in line)
    attempts_line = text.splitlines()[flaky_row + 1]
    assert attempts_line.count("retry (503)") == 2 and attempts_line.endswith("delivered"), attempts_line
    assert "refused (403)" in text and "exit status 3: boom" in text
    assert "boot" in text and "not all signalled yet: 1 signal(s) failed for good" in text


def test_the_json_view_holds_every_attempt_with_its_time(analysed):
    result = analysed.run("analyze", "--json")
    data = json.loads(result.stdout)
    lanes = {lane["name"]: lane for lane in data["deployments"]}
    flaky = lanes["a-flaky"]
    assert [a["outcome"] for a in flaky["attempts"]] == ["retry", "retry", "delivered"]
    assert flaky["attempts"][0]["at"] < flaky["attempts"][1]["at"] < flaky["attempts"][2]["at"]
    assert flaky["hook"] >= 1.0 and flaky["signalling"] > 0.4, "two backoffs before delivery"
    assert lanes["b-broken"]["wait"] >= 1.0, "the second deployment waited for the first"
    assert lanes["c-refused"]["signal_state"] == "failed"
    assert data["boot_at"] is not None and data["boot_to_all_signalled"] is None


def test_the_svg_renders_with_lanes_phases_retries_and_failures_where_they_belong(analysed, tmp_path):
    svg_path, png_path = tmp_path / "timeline.svg", tmp_path / "timeline.png"
    result = analysed.run("analyze", "--svg", str(svg_path))
    assert result.returncode == 0, result.stderr
    render = subprocess.run(["rsvg-convert", "-o", str(png_path), str(svg_path)], capture_output=True,
                            text=True, timeout=60)
    assert render.returncode == 0, render.stderr
    picture = png_reader.read(png_path)
    shapes = {e.get("id"): e for e in ET.parse(svg_path).getroot().iter() if e.get("id")}
    assert picture.width == timeline_svg.WIDTH

    def centre(ident):
        shape = shapes[ident]
        if shape.tag == f"{SVG}circle":
            return float(shape.get("cx")), float(shape.get("cy"))
        if shape.tag == f"{SVG}polygon":
            xs, ys = zip(*(map(float, p.split(",")) for p in shape.get("points").split()))
            return sum(xs) / len(xs), sum(ys) / len(ys)
        return float(shape.get("x")) + float(shape.get("width")) / 2, float(shape.get("y")) + float(shape.get("height")) / 2

    def assert_colour(ident, colour_name):
        ok, why = colour_near(picture.pixel(*centre(ident)), timeline_svg.COLOURS[colour_name])
        assert ok, f"{ident}: {why}"

    # Lanes in run order: a-flaky, b-broken, c-refused.
    assert "a-flaky" in shapes["lane-0-hook"].find(f"{SVG}title").text
    assert_colour("lane-0-hook", "hook-ok")
    assert_colour("lane-1-hook", "hook-failed")
    assert_colour("lane-1-failure", "failure")
    assert_colour("lane-2-hook", "hook-ok")
    assert_colour("lane-1-wait", "wait")
    # Retries are visible: two orange dots, then the dark green delivery, left to right.
    for number, colour in ((0, "attempt-retry"), (1, "attempt-retry"), (2, "attempt-delivered")):
        assert_colour(f"lane-0-attempt-{number}", colour)
    xs = [centre(f"lane-0-attempt-{n}")[0] for n in range(3)]
    assert xs[0] < xs[1] < xs[2], xs
    assert_colour("lane-2-attempt-0", "attempt-refused")
    assert "lane-0-failure" not in shapes and "lane-2-failure" not in shapes
    # Each lane's bars sit in its own band: the hook bars are one lane apart vertically.
    ys = [centre(f"lane-{n}-hook")[1] for n in range(3)]
    assert ys[1] - ys[0] == ys[2] - ys[1] == timeline_svg.LANE_HEIGHT
    # Between the lanes' bars (left of every phase) the picture is background.
    left_of_all = min(float(shapes[f"lane-{n}-wait"].get("x")) for n in range(3)) - 5
    assert colour_near(picture.pixel(left_of_all, ys[0]), "#ffffff")[0]


def test_analyze_with_no_journal_says_so(tmp_path):
    agent = Agent(tmp_path)
    result = agent.run("analyze")
    assert result.returncode == 0 and "no deployments known" in result.stdout
