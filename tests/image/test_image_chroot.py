"""The agent as installed in the image, run in a chroot against a loopback heat-api-cfn.

This is the first-boot path of a real server, minus the boot: Heat's user-data has left
``cfn-init-data`` naming the cfn endpoint; ``stoker run --once`` reads it, polls the
metadata, runs a script, a puppet and a component deployment through the hooks the
elements installed (real puppet from the image), and signals each one to the loopback
server, which checks the signatures as heat-api-cfn does. The chroot shares the host's
network, so the agent reaches the server on 127.0.0.1.
"""
from __future__ import annotations

import json
import time

import pytest

from .conftest import record_time
from .deployments import Stack, component_config, puppet_config, script_config

pytestmark = pytest.mark.image


def publish_three(stack: Stack, greeting: str) -> dict[str, str]:
    """The deployments every agent-in-the-image test applies; returns their ids by name."""
    ids = {
        "10_script": stack.add("10_script", "script", script_config("/root/script-marker"),
                               {"greeting": greeting}, outputs=["result"]),
        "20_puppet": stack.add("20_puppet", "puppet", puppet_config("/root/puppet-marker"),
                               {"greeting": greeting}, outputs=["result"]),
        "30_component": stack.add("30_component", "component",
                                  component_config("/root/component-marker", "/root/deleted-marker")),
    }
    stack.publish()
    return ids


def check_applied(root, signals: dict[str, dict], ids: dict[str, str], greeting: str) -> None:
    """Each deployment's effect is on disk and its signal reached Heat with the right payload."""
    assert set(ids) <= set(signals), signals
    assert signals["10_script"]["deploy_status_code"] == 0, signals["10_script"]
    assert signals["10_script"]["result"] == f"hello {greeting}"
    assert "script ran" in signals["10_script"]["deploy_stdout"]
    assert signals["20_puppet"]["deploy_status_code"] == 0, signals["20_puppet"]
    assert signals["20_puppet"]["result"] == "puppet CREATE"
    assert signals["30_component"]["deploy_status_code"] == 0, signals["30_component"]
    assert (root / "/root/script-marker").read_text() == f"script says {greeting}\n"
    assert (root / "/root/puppet-marker").read_text() == f"puppet says {greeting}\n"
    assert (root / "/root/component-marker").read_text() == "component CREATE\n"
    assert not (root / "/root/deleted-marker").exists()
    # The upstream-compatible bookkeeping that support tools read.
    for ident in ids.values():
        assert (root / f"/var/lib/heat-config/deployed/{ident}.json").exists(), ident
        assert (root / f"/var/lib/heat-config/deployed/{ident}.notify.json").exists(), ident


def test_first_boot_from_cfn_init_data_runs_script_puppet_component_and_signals_each(fresh_tree, cfn):
    stack = Stack(cfn)
    ids = publish_three(stack, "chroot")
    fresh_tree.write("/var/lib/heat-cfntools/cfn-init-data", stack.cfn_init_data(), 0o600)

    with fresh_tree.mounted():
        start = time.monotonic()
        first = fresh_tree.run(["stoker", "run", "--once", "--signal-wait", "120"], timeout=900)
        record_time("chroot: stoker run --once, script + puppet + component", time.monotonic() - start)
        assert first.returncode == 0, first.stdout + first.stderr
        assert set(stack.signals()) == set(ids)
        check_applied(fresh_tree, stack.signals(), ids, "chroot")

        # The agent restarted (a reboot, a package upgrade): nothing runs or signals twice.
        polls_before = len(cfn.requests_matching("GET"))
        again = fresh_tree.run(["stoker", "run", "--once", "--signal-wait", "30"], timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(cfn.signals) == 3
        assert len(cfn.requests_matching("GET")) > polls_before, "the second cycle did not poll"

        status = fresh_tree.run(["stoker", "status", "--json"], check=True)
    report = json.loads(status.stdout)
    assert report["summary"] == {"deployments": 3, "failed": 0, "running": 0, "signals_pending": 0,
                                 "signals_failed": 0, "quarantined": 0, "exit_code": 0}, report["summary"]
    # Secrets from the metadata never reach the log or the status output.
    assert stack.cred.secret not in first.stdout + first.stderr + status.stdout
