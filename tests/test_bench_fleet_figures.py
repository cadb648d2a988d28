"""The fleet benchmark's idle figures come from each agent's own poll gaps (pure parts, no Heat)."""
from __future__ import annotations

import pytest

from bench.fleet.scenario import poll_gaps

pytestmark = pytest.mark.unit

CFN = ('wsgi 127.0.0.1 "GET /v1/?Action=DescribeStackResource&StackName=fleet-{n}&LogicalResourceId=server'
       '&AWSAccessKeyId=k&SignatureVersion=2&SignatureMethod=HmacSHA256&Signature=s{t}%3D HTTP/1.1" 200 1134')
HEAT = 'wsgi 127.0.0.1 "GET /v1/t/stacks/fleet-{n}/{n}d1e9/resources/server/metadata HTTP/1.1" 200 16'
SWIFT = ("swift_proxy: 127.0.0.1 127.0.0.1 30/Nov/2026/05/12/57 GET /v1/AUTH_t/srv-{n}/obj%3Ftemp_url_sig%3D{t}"
         "%26temp_url_expires%3D2147483586 HTTP/1.0 200 - stoker/0.1")
SIGNAL = 'wsgi 127.0.0.1 "POST /v1/t/stacks/fleet-1/x/resources/deployment/signal HTTP/1.1" 200 4'


def test_each_agents_polls_are_told_apart_by_its_resource_and_its_gaps_measured():
    times, lines = [], []
    for t in range(0, 100, 20):  # agent 1 every 20 s, agent 2 every 25 s, on each transport's line
        for template in (CFN, HEAT, SWIFT):
            times.append(float(t)), lines.append(template.format(n=1, t=t))
    for t in range(5, 100, 25):
        for template in (CFN, HEAT, SWIFT):
            times.append(float(t)), lines.append(template.format(n=2, t=t))
    times.append(50.0), lines.append(SIGNAL)  # not a poll
    order = sorted(range(len(times)), key=times.__getitem__)
    gaps = poll_gaps([times[i] for i in order], [lines[i] for i in order], 0.0, 100.0)
    assert len(gaps) == 6, f"one entry per agent and transport, the changing signatures ignored: {sorted(gaps)}"
    assert sorted(g for agent in gaps.values() for g in set(agent)) == [20.0] * 3 + [25.0] * 3


def test_polls_outside_the_window_and_agents_seen_once_give_no_gap():
    lines = [HEAT.format(n=1, t=0), HEAT.format(n=1, t=0), HEAT.format(n=2, t=0)]
    assert poll_gaps([1.0, 30.0, 10.0], lines, 0.0, 20.0) == {}
