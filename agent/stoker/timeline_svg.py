"""The timeline as a picture: a self-contained SVG (``stoker analyze --svg FILE``).

One lane per deployment, oldest at the top. In each lane: the wait behind
earlier deployments (grey), the hook's run (green when it succeeded, red when
it failed, blue while it runs), the signal's way to Heat (amber; dark red when
it failed for good), one dot per signal attempt (orange: retried, dark green:
delivered, dark red: refused or given up), and a dark red diamond where a
deployment failed. Dashed vertical lines mark the boot, the agent's start,
its first poll and the moment every deployment was signalled.

The file has no scripts, no external fonts or images, and only the SVG 1.1
features every renderer has, so that it can be attached to a bug report and
opened anywhere. Each shape carries an ``id`` (``lane-N-hook``, ``lane-N-attempt-M``,
...) so that tests, and people reading the source, can find it.
"""
from __future__ import annotations

import math
from html import escape  # not xml.sax.saxutils, which loads urllib.request (and OpenSSL)

from .timeline import Lane, Timeline

WIDTH = 1000
LABEL_WIDTH = 250
RIGHT_MARGIN = 30
TOP = 100
LANE_HEIGHT = 26
BAR_HEIGHT = 14
SIGNAL_HEIGHT = 8
LEGEND_HEIGHT = 58
MIN_BAR = 2.0        # pixels: a phase too short to see is still drawn
MAX_LANES = 400      # more make a picture nobody reads; the newest are kept

COLOURS = {
    "wait": "#c8c8c8",
    "hook-ok": "#2ca02c",
    "hook-failed": "#d62728",
    "hook-running": "#1f77b4",
    "signal": "#f0b429",
    "signal-failed": "#7f1d1d",
    "attempt-delivered": "#0b5d1e",
    "attempt-retry": "#ff7f0e",
    "attempt-refused": "#7a0000",
    "attempt-gave_up": "#7a0000",
    "failure": "#8b0000",
    "milestone": "#555555",
    "stripe": "#f4f4f4",
    "text": "#222222",
}


class Scale:
    """Maps Unix times to x pixels over the plot area."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.span = max(end - start, 1e-3)
        self.left = LABEL_WIDTH
        self.width = WIDTH - LABEL_WIDTH - RIGHT_MARGIN

    def x(self, at: float) -> float:
        return self.left + (at - self.start) / self.span * self.width


def render(timeline: Timeline, title: str = "stoker analyze") -> str:
    """The whole SVG document."""
    lanes = timeline.lanes[-MAX_LANES:]
    start, end, boot_note = _axis_range(timeline, lanes)
    scale = Scale(start, end)
    height = TOP + LANE_HEIGHT * max(len(lanes), 1) + LEGEND_HEIGHT
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="11">',
             f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
             _text(10, 20, _title(timeline, title, len(lanes)), size=14, weight="bold")]
    if boot_note:
        parts.append(_text(10, 38, boot_note))
    parts += _axis(scale, TOP - 8, TOP + LANE_HEIGHT * len(lanes))
    for index, lane in enumerate(lanes):
        parts += _lane(index, lane, scale, timeline.now)
    parts += _milestones(timeline, scale, TOP + LANE_HEIGHT * len(lanes))
    parts += _legend(height - LEGEND_HEIGHT + 18)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def lane_y(index: int) -> float:
    """The top of lane ``index``."""
    return TOP + index * LANE_HEIGHT


def _axis_range(timeline: Timeline, lanes: list[Lane]) -> tuple[float, float, str]:
    """Where the axis starts and ends; the boot is left off (and noted) when it would squash the lanes."""
    events = [lane.seen_at for lane in lanes] + \
        [t for t in (timeline.agent_started_at, timeline.first_poll_at) if t]
    first = min(events) if events else timeline.now
    end = max([lane.end(timeline.now) for lane in lanes] + events + [first])
    boot = timeline.boot_at
    if boot is None or boot > first:
        return first, end, ""
    if first - boot <= 3 * max(end - first, 1.0):
        return boot, end, ""
    return first, end, f"boot was {_duration(first - boot)} before the first event shown"


def _title(timeline: Timeline, title: str, shown: int) -> str:
    text = f"{title}: {shown} deployment{'s' if shown != 1 else ''}"
    signalled = timeline.all_signalled_at
    if signalled is not None and timeline.boot_at is not None:
        text += f"; boot to all signalled {_duration(signalled - timeline.boot_at)}"
    elif signalled is None and timeline.lanes:
        text += "; not all signalled yet"
    if len(timeline.lanes) > shown:
        text += f" (the newest {shown} of {len(timeline.lanes)})"
    return text


def _axis(scale: Scale, y: float, bottom: float) -> list[str]:
    step = _nice_step(scale.span / 8)
    parts = [f'<line x1="{scale.left}" y1="{y}" x2="{scale.left + scale.width}" y2="{y}" stroke="#888888"/>']
    tick = 0.0
    while tick <= scale.span + 1e-9:
        x = scale.x(scale.start + tick)
        parts.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#e2e2e2"/>')
        parts.append(_text(x, y - 8, _duration(tick), anchor="middle", colour="#555555"))
        tick += step
    return parts


def _lane(index: int, lane: Lane, scale: Scale, now: float) -> list[str]:
    top = lane_y(index)
    middle = top + LANE_HEIGHT / 2
    bar_top = middle - BAR_HEIGHT / 2
    parts = []
    if index % 2:
        parts.append(f'<rect x="0" y="{top}" width="{WIDTH}" height="{LANE_HEIGHT}" fill="{COLOURS["stripe"]}"/>')
    label = f"{lane.name} ({lane.group} {lane.action})"
    parts.append(_text(8, middle + 4, _cut(label, 40), colour=COLOURS["failure"] if lane.result == "failed"
                       else COLOURS["text"], title=label))
    started = lane.started_at if lane.started_at is not None else lane.seen_at
    parts.append(_bar(f"lane-{index}-wait", scale, lane.seen_at, started, bar_top + 3, BAR_HEIGHT - 6,
                      COLOURS["wait"], f"{lane.name}: waited {lane.wait:.2f}s"))
    finished = lane.finished_at if lane.finished_at is not None else now
    parts.append(_bar(f"lane-{index}-hook", scale, started, finished, bar_top, BAR_HEIGHT,
                      COLOURS[f"hook-{lane.result}"], f"{lane.name}: hook {lane.result}, {finished - started:.2f}s"))
    parts += _signal(index, lane, scale, now, middle)
    if lane.result == "failed":
        x = scale.x(finished)
        size = 7
        parts.append(f'<polygon id="lane-{index}-failure" points="{x:.1f},{middle - size} {x + size:.1f},{middle} '
                     f'{x:.1f},{middle + size} {x - size:.1f},{middle}" fill="{COLOURS["failure"]}" '
                     f'stroke="#ffffff" stroke-width="1"><title>{escape(lane.reason or "failed")}</title></polygon>')
    return parts


def _signal(index: int, lane: Lane, scale: Scale, now: float, middle: float) -> list[str]:
    """The signal's phase and one dot per attempt."""
    if lane.finished_at is None or lane.signal_state == "none":
        return []
    end = lane.signalled_at or (now if lane.signal_state == "pending" else
                                (lane.attempts[-1].at if lane.attempts else lane.finished_at))
    colour = COLOURS["signal-failed"] if lane.signal_state == "failed" else COLOURS["signal"]
    parts = [_bar(f"lane-{index}-signal", scale, lane.finished_at, end, middle - SIGNAL_HEIGHT / 2,
                  SIGNAL_HEIGHT, colour, f"{lane.name}: signal {lane.signal_state} ({lane.transport}), "
                  f"{lane.attempt_count} attempt(s)")]
    for number, attempt in enumerate(lane.attempts):
        status = f" {attempt.http_status}" if attempt.http_status else ""
        parts.append(f'<circle id="lane-{index}-attempt-{number}" cx="{scale.x(attempt.at):.1f}" cy="{middle}" '
                     f'r="5" fill="{COLOURS.get("attempt-" + attempt.outcome, COLOURS["attempt-retry"])}" '
                     f'stroke="#ffffff" stroke-width="1"><title>attempt {number + 1}: {escape(attempt.outcome)}'
                     f'{status}</title></circle>')
    return parts


def _milestones(timeline: Timeline, scale: Scale, bottom: float) -> list[str]:
    parts = []
    marks = [("boot", timeline.boot_at), ("agent started", timeline.agent_started_at),
             ("first poll", timeline.first_poll_at), ("all signalled", timeline.all_signalled_at)]
    row = 0
    for label, at in marks:
        if at is None or at < scale.start - 1e-6:
            continue
        x = scale.x(at)
        ident = "milestone-" + label.replace(" ", "-")
        parts.append(f'<line id="{ident}" x1="{x:.1f}" y1="{TOP - 44 - 12 * (row % 2)}" x2="{x:.1f}" y2="{bottom}" '
                     f'stroke="{COLOURS["milestone"]}" stroke-width="1" stroke-dasharray="4,3"/>')
        near_right = x > WIDTH - RIGHT_MARGIN - 90
        parts.append(_text(x - 3 if near_right else x + 3, TOP - 34 - 12 * (row % 2), label,
                           anchor="end" if near_right else None, colour=COLOURS["milestone"]))
        row += 1
    return parts


def _legend(y: float) -> list[str]:
    items = [("waiting", COLOURS["wait"], "rect"), ("hook ok", COLOURS["hook-ok"], "rect"),
             ("hook failed", COLOURS["hook-failed"], "rect"), ("running", COLOURS["hook-running"], "rect"),
             ("signalling", COLOURS["signal"], "rect"), ("signal failed", COLOURS["signal-failed"], "rect"),
             ("attempt retried", COLOURS["attempt-retry"], "dot"),
             ("delivered", COLOURS["attempt-delivered"], "dot"),
             ("refused", COLOURS["attempt-refused"], "dot"), ("failure", COLOURS["failure"], "diamond")]
    parts, x = [], 10.0
    for label, colour, shape in items:
        if shape == "rect":
            parts.append(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{colour}"/>')
        elif shape == "dot":
            parts.append(f'<circle cx="{x + 7}" cy="{y - 4}" r="5" fill="{colour}"/>')
        else:
            parts.append(f'<polygon points="{x + 7},{y - 11} {x + 14},{y - 4} {x + 7},{y + 3} {x},{y - 4}" '
                         f'fill="{colour}"/>')
        parts.append(_text(x + 18, y, label))
        x += 22 + 6.2 * len(label) + 8
    return parts


def _bar(ident: str, scale: Scale, start: float, end: float, y: float, height: float, colour: str,
         title: str) -> str:
    left = scale.x(start)
    width = max(MIN_BAR, scale.x(end) - left)
    return (f'<rect id="{ident}" x="{left:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height}" '
            f'fill="{colour}"><title>{escape(title)}</title></rect>')


def _text(x: float, y: float, text: str, *, size: int | None = None, weight: str | None = None,
          anchor: str | None = None, colour: str | None = None, title: str | None = None) -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" fill="{colour or COLOURS["text"]}"'
    if size:
        attrs += f' font-size="{size}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if anchor:
        attrs += f' text-anchor="{anchor}"'
    inner = escape(text) + (f"<title>{escape(title)}</title>" if title and title != text else "")
    return f"<text {attrs}>{inner}</text>"


def _nice_step(raw: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) near ``raw`` seconds."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"

