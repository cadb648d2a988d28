"""One system's fleet run on the real Heat: create, update, idle; the figures of each phase.

1. POST the stack (bench/fleet/fleet.yaml). As each DeployedServer completes, read its
   metadata the way user-data would leave it and start its agent. Timed: POST ->
   CREATE_COMPLETE, and the deployment groups' start (first seen IN_PROGRESS) ->
   CREATE_COMPLETE, and from Heat's events the fleet's convergence: the first deployment
   begun -> the last one complete (without Heat's time to make the servers or finish the stack).
2. PATCH ``generation``: every server runs the script again. Timed: PATCH ->
   UPDATE_COMPLETE; each server's script start (its own output) against the time Heat
   began updating that server's deployment (its event), and the agents' polls per time
   bin over the update (peak / mean).
3. Idle: after the agents settle, a window in which only the agents talk to the cloud:
   requests each service saw and the CPU time each used, per server-hour; the agents'
   memory.
"""
from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from tests.heat.client import HeatClient, Stack
from tests.heat.e2e_support import TRANSPORT_SECTIONS, post_stack, transport_section
from tests.heat.rest import expect

from .agents import Fleet
from .cloud import Cloud

TEMPLATE = Path(__file__).with_name("fleet.yaml")
TRANSPORTS = ("cfn", "heat", "temp_url")
SECTION_TRANSPORT = {"cfn": "cfn", "heat": "heat", "request": "temp_url"}
# an agent's metadata poll, as each service logs it (the bench's own calls never match)
POLL_LINE = re.compile(r'"GET /v1/\?[^"]*DescribeStackResource|"GET /v1/\S+/resources/[^/ ]+/metadata '
                       r'|GET /v1/AUTH_\S+temp_url_sig')
# which agent made a poll: the cfn query's stack and resource, the metadata path, the TempURL object
POLL_AGENT = re.compile(r"StackName=([^&\s]+)&LogicalResourceId=([^&\s]+)|/stacks/(\S+)/metadata "
                        r"|GET (/v1/AUTH_[^%\s]+)%3Ftemp_url_sig")
WATCH_PERIOD = 1.0
SECONDS_PER_HOUR = 3600.0


class FleetError(RuntimeError):
    """The fleet did not converge (or the cloud refused it); the message says where it stood."""


@dataclass
class Settings:
    servers: int
    interval: float
    idle_seconds: float
    settle_seconds: float
    timeout: float


@dataclass
class Figures:
    """What one system's run measured (seconds, counts, bytes); NaN where a phase failed."""

    servers: int
    split: dict[str, int]
    create: float = math.nan
    create_from_publish: float = math.nan  # the deployment groups seen in progress -> CREATE_COMPLETE
    create_converge: float = math.nan      # first deployment begun -> last one complete (Heat's events)
    update: float = math.nan
    update_converge: float = math.nan
    update_incomplete: int = 0             # deployments still not complete when the update timed out
    update_last_start: float = math.nan   # the last server's script start - its deployment's publish
    update_start_spread: float = math.nan  # last script start - first script start
    update_begin_spread: float = math.nan  # Heat: the last deployment's update begun - the first's
    update_last_complete: float = math.nan  # the slowest script start -> its deployment complete (Heat's events)
    update_peak_to_mean: float = math.nan
    update_poll_bins: list[int] = field(default_factory=list)  # metadata polls per bin, PATCH -> UPDATE_COMPLETE
    idle_requests: dict[str, float] = field(default_factory=dict)  # service -> per server-hour
    idle_poll_gap: dict[str, float] = field(default_factory=dict)  # service -> mean s between an agent's polls
    idle_polls: dict[str, float] = field(default_factory=dict)     # service -> polls per server-hour, from the gaps
    idle_cpu: dict[str, float] = field(default_factory=dict)       # service -> CPU s per server-hour
    rss: int = 0
    pss: int = 0
    errors: list[str] = field(default_factory=list)


def split(servers: int) -> dict[str, int]:
    """The fleet shared out over the three transports, as evenly as it goes (cfn first)."""
    base, extra = divmod(servers, len(TRANSPORTS))
    return {t: base + (1 if i < extra else 0) for i, t in enumerate(TRANSPORTS)}


def run(cloud: Cloud, fleet: Fleet, settings: Settings, say) -> Figures:
    """Create, update and idle one fleet; the agents are stopped and the stack deleted after."""
    counts = split(settings.servers)
    figures = Figures(settings.servers, counts)
    client = cloud.client()
    stack = None
    try:
        stack = _create(client, fleet, counts, settings, figures, say)
        try:
            _update(cloud, client, fleet, stack, settings, figures, say)
        except (FleetError, AssertionError) as err:  # the fleet still idles: measure that
            _failed(figures, fleet, err, say)
            figures.update_incomplete = _incomplete(client, stack, "UPDATE")
        _idle(cloud, fleet, settings, figures, say)
    except (FleetError, AssertionError) as err:
        _failed(figures, fleet, err, say)
    finally:
        fleet.stop()
        figures.errors.extend(fleet.errors)
        if stack is not None:
            _delete(client, stack, say)
    return figures


def _failed(figures: Figures, fleet: Fleet, err: Exception, say) -> None:
    figures.errors.append(str(err)[:2000])
    say(f"FAILED: {str(err)[:2000]}")
    say(fleet.log_tails())


def _incomplete(client: HeatClient, stack: Stack, action: str) -> int:
    """Deployments that never reached ``action``_COMPLETE (their signal never counted)."""
    try:
        events = deployment_events(client, stack, action)
    except AssertionError:
        return -1
    return sum(1 for e in events.values() if "COMPLETE" not in e)


# ------------------------------------------------------------------ create


def _create(client: HeatClient, fleet: Fleet, counts: dict[str, int], settings: Settings,
            figures: Figures, say) -> Stack:
    name = f"fleet-{uuid.uuid4().hex[:6]}"
    params = {f"{t}_count": n for t, n in counts.items()}
    params.update(polling_interval=settings.interval, generation="1")
    body = {"stack_name": name, "template": TEMPLATE.read_text(), "parameters": params,
            "timeout_mins": max(1, math.ceil(settings.timeout / 60))}
    posted = time.monotonic()
    stack = Stack(name, post_stack(client, body))
    say(f"stack {name}: {settings.servers} servers ({', '.join(f'{n} {t}' for t, n in counts.items())}), "
        f"polling every {settings.interval:g}s")
    published = _watch_create(client, stack, fleet, settings, posted)
    done = time.monotonic()
    figures.create = done - posted
    figures.create_from_publish = done - published
    figures.create_converge = converge(deployment_events(client, stack, "CREATE"))
    say(f"CREATE_COMPLETE {figures.create:.1f}s after the POST, {figures.create_from_publish:.1f}s after the "
        f"deployment groups started; deployments {figures.create_converge:.1f}s; {fleet.running()} agents running")
    return stack


def _watch_create(client: HeatClient, stack: Stack, fleet: Fleet, settings: Settings, posted: float) -> float:
    """Start each server's agent as its server completes; wait for CREATE_COMPLETE; when deployments began."""
    deadline = posted + settings.timeout
    published: float | None = None
    while time.monotonic() < deadline:
        if len(fleet.agents) < settings.servers or published is None:
            resources = client.call("GET", f"{stack.path}/resources?nested_depth=2").json()["resources"]
            for res in resources:
                if res["resource_type"] == "OS::Heat::DeployedServer" and \
                        res["resource_status"] == "CREATE_COMPLETE":
                    _start_agent(client, fleet, res)
                if published is None and res["resource_name"].endswith("_deployments") and \
                        res["resource_status"] != "INIT_COMPLETE":
                    published = time.monotonic()
        if fleet.dead() or fleet.errors:
            raise FleetError(f"agents exited: {', '.join(fleet.dead() + fleet.errors)}")
        status = (client.stack(stack) or {}).get("stack_status", "")
        if status == "CREATE_COMPLETE":
            return published if published is not None else time.monotonic()
        if status.endswith("FAILED"):
            raise FleetError(f"{stack.name} {status}: {client.stack(stack).get('stack_status_reason')}")
        time.sleep(WATCH_PERIOD)
    raise FleetError(f"{stack.name} not CREATE_COMPLETE within {settings.timeout:.0f}s "
                     f"({len(fleet.agents)} agents started)")


def _start_agent(client: HeatClient, fleet: Fleet, res: dict) -> None:
    server_id = res["physical_resource_id"]
    if not server_id or server_id in fleet.agents:
        return
    link = next(lnk["href"] for lnk in res["links"] if lnk["rel"] == "stack")
    metadata = expect("GET", f"{link}/resources/{res['resource_name']}/metadata",
                      token=client.token).json()["metadata"]
    occ = metadata.get("os-collect-config") or {}
    if not any(isinstance(occ.get(k), dict) and any(occ[k].values()) for k in TRANSPORT_SECTIONS.values()):
        return  # Heat has not written the key yet: next round
    fleet.start(server_id, SECTION_TRANSPORT[transport_section(metadata)], metadata)


# ------------------------------------------------------------------ update


def _update(cloud: Cloud, client: HeatClient, fleet: Fleet, stack: Stack, settings: Settings, figures: Figures, say) -> None:
    cloud.follow()
    time.sleep(settings.interval)  # a quiet stretch before the change, so the bins start flat
    patched = time.monotonic()
    client.patch(stack, {"generation": "2"})
    deadline = patched + settings.timeout
    while True:
        status = (client.stack(stack) or {}).get("stack_status", "")
        if status == "UPDATE_COMPLETE":
            break
        if fleet.dead():
            raise FleetError(f"agents exited: {', '.join(fleet.dead())}")
        if status.endswith("FAILED") or time.monotonic() > deadline:
            raise FleetError(f"update of {stack.name}: {status or 'gone'} after {time.monotonic() - patched:.0f}s")
        time.sleep(0.5)
    done = time.monotonic()
    figures.update = done - patched
    starts = _script_starts(client, stack)
    events = deployment_events(client, stack, "UPDATE")
    figures.update_converge = converge(events)
    lags = [starts[key] - events[key]["IN_PROGRESS"] for key in starts
            if "IN_PROGRESS" in events.get(key, {})]
    if lags:
        figures.update_last_start = max(lags)
    begun = [e["IN_PROGRESS"] for e in events.values() if "IN_PROGRESS" in e]
    if begun:
        figures.update_begin_spread = max(begun) - min(begun)
    finish = [events[key]["COMPLETE"] - starts[key] for key in starts if "COMPLETE" in events.get(key, {})]
    if finish:
        figures.update_last_complete = max(finish)
    if starts:
        figures.update_start_spread = max(starts.values()) - min(starts.values())
    cloud.flush()
    figures.update_poll_bins = _poll_bins(cloud, patched, done, settings.interval / 5)
    figures.update_peak_to_mean = _peak_to_mean(figures.update_poll_bins)
    say(f"UPDATE_COMPLETE {figures.update:.1f}s after the PATCH, deployments {figures.update_converge:.1f}s; last script start "
        f"{figures.update_last_start:.1f}s after its deployment's update began; polls peak/mean "
        f"{figures.update_peak_to_mean:.2f}")


def _script_starts(client: HeatClient, stack: Stack) -> dict[tuple[str, str], float]:
    """(transport, server key) -> when the update's script started there (the stack output)."""
    outputs = client.outputs(stack).get("started") or {}
    out = {}
    for transport, by_key in outputs.items():
        for key, value in (by_key or {}).items():
            try:
                out[(transport, key)] = float(value)
            except (TypeError, ValueError):
                continue
    return out


def deployment_events(client: HeatClient, stack: Stack, action: str) -> dict[tuple[str, str], dict[str, float]]:
    """(transport, server key) -> {"IN_PROGRESS": t, "COMPLETE": t} of each deployment's ``action``.

    From Heat's events, whose times have one-second resolution: each is taken as the
    middle of its second.
    """
    events = client.call("GET", f"{stack.path}/events?nested_depth=2&resource_action={action}"
                                f"&limit=5000").json()["events"]
    out: dict[tuple[str, str], dict[str, float]] = {}
    for event in events:
        link = next((lnk["href"] for lnk in event.get("links", []) if lnk["rel"] == "stack"), "")
        group = next((t for t in TRANSPORTS if f"-{t}_deployments-" in link), None)
        if group is None or not event["resource_name"].isdigit():
            continue
        when = datetime.strptime(event["event_time"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc).timestamp() + 0.5
        status = event["resource_status"].removeprefix(f"{action}_")
        out.setdefault((group, event["resource_name"]), {}).setdefault(status, when)
    return out


def converge(events: dict[tuple[str, str], dict[str, float]]) -> float:
    """The first deployment's start to the last one's completion, per Heat's events."""
    begun = [e["IN_PROGRESS"] for e in events.values() if "IN_PROGRESS" in e]
    done = [e["COMPLETE"] for e in events.values() if "COMPLETE" in e]
    return max(done) - min(begun) if begun and done else math.nan


def _poll_bins(cloud: Cloud, start: float, end: float, width: float) -> list[int]:
    """Metadata polls in each ``width``-second bin from ``start`` to ``end``."""
    times = [t for tail in cloud.tails.values() for t, _line in polls(tail.times, tail.lines, start, end)]
    bins = max(1, int((end - start) // width))
    counts = [0] * bins
    for t in times:
        counts[min(bins - 1, int((t - start) // width))] += 1
    return counts


def _peak_to_mean(counts: list[int]) -> float:
    """The busiest bin's polls over the mean bin's."""
    mean = sum(counts) / len(counts) if counts else 0
    return max(counts) / mean if mean else math.nan


# ------------------------------------------------------------------ idle


def _idle(cloud: Cloud, fleet: Fleet, settings: Settings, figures: Figures, say) -> None:
    say(f"idle: settling {settings.settle_seconds:.0f}s, then measuring {settings.idle_seconds:.0f}s")
    time.sleep(settings.settle_seconds)
    cpu_before, start = cloud.cpu(), time.monotonic()
    time.sleep(settings.idle_seconds)
    end, cpu_after = time.monotonic(), cloud.cpu()
    figures.rss, figures.pss = fleet.memory()
    cloud.flush()
    server_hours = settings.servers * (end - start) / SECONDS_PER_HOUR
    figures.idle_requests = {name: tail.count(start, end) / server_hours for name, tail in cloud.tails.items()}
    figures.idle_cpu = {name: (cpu_after[name] - cpu_before[name]) / server_hours for name in cpu_before}
    for name, tail in cloud.tails.items():
        gaps = poll_gaps(tail.times, tail.lines, start, end)
        if gaps:
            figures.idle_poll_gap[name] = sum(sum(g) for g in gaps.values()) / sum(len(g) for g in gaps.values())
            figures.idle_polls[name] = sum(SECONDS_PER_HOUR * len(g) / sum(g) for g in gaps.values()) / settings.servers
    say("idle: " + ", ".join(f"{n} {figures.idle_requests[n]:.0f} req and {figures.idle_cpu[n]:.1f} CPU s "
                             "per server-hour" for n in figures.idle_requests))


def polls(times: list[float], lines: list[str], start: float, end: float) -> Iterator[tuple[float, str]]:
    """(time, line) of each agent's metadata poll a service logged in [start, end)."""
    return ((when, line) for when, line in zip(times, lines) if start <= when < end and POLL_LINE.search(line))


def poll_gaps(times: list[float], lines: list[str], start: float, end: float) -> dict[str, list[float]]:
    """Agent -> the gaps between its consecutive metadata polls in [start, end).

    The poll rate from each agent's own gaps does not depend on where the window cuts
    its schedule: a 60 s window holds 3 or 4 polls of a 20 s agent depending on its
    phase, which moves a plain request count by several per cent either way.
    """
    seen: dict[str, list[float]] = {}
    for when, line in polls(times, lines, start, end):
        found = POLL_AGENT.search(line)
        if found:
            seen.setdefault("/".join(g for g in found.groups() if g), []).append(when)
    return {agent: [b - a for a, b in zip(polls, polls[1:])] for agent, polls in seen.items() if len(polls) > 1}


def _delete(client: HeatClient, stack: Stack, say) -> None:
    try:
        client.delete(stack)
        client.wait_deleted(stack, timeout=300)
    except Exception as err:  # noqa: BLE001 - the next system gets its own stack either way
        say(f"deleting {stack.name}: {err}")
