"""The image booted with systemd-nspawn: the unit starts the agent, which works unattended.

Nobody types a command: the image's own systemd starts ``stoker.service`` at boot, the
agent bootstraps from ``cfn-init-data``, applies the three deployments and signals them;
then a deployment published while it runs (an UPDATE, as Heat sends after a stack
update) is picked up by polling alone. The container shares the host's network
namespace (no ``--private-network``), so the agent reaches the loopback heat-api-cfn on
127.0.0.1 and nothing else.
"""
from __future__ import annotations

import pytest

from .conftest import record_time
from .deployments import Stack, script_config
from .rootfs import Boot
from .test_image_chroot import check_applied, publish_three

pytestmark = pytest.mark.image


def test_boot_starts_the_agent_which_applies_and_signals_with_no_command_typed(nspawn, fresh_tree, cfn, tmp_path):
    stack = Stack(cfn)
    ids = publish_three(stack, "boot")
    # Poll quickly once idle so the UPDATE below is seen in seconds (Heat's key: docs/protocol.md, "Where to poll").
    fresh_tree.write("/var/lib/heat-cfntools/cfn-init-data", stack.cfn_init_data(polling_interval=2), 0o600)

    with Boot(fresh_tree.path, tmp_path / "console.log") as boot:
        took = boot.wait_for("three signals", lambda: len(stack.signals()) == 3, timeout=300)
        record_time("nspawn: boot to three deployments signalled", took)

        update_id = stack.add("40_update", "script", script_config("/root/update-marker"),
                              {"greeting": "update"}, outputs=["result"], action="UPDATE")
        stack.publish(polling_interval=2)
        published = boot.wait_for("the UPDATE's signal", lambda: "40_update" in stack.signals(), timeout=120)
        record_time("nspawn: UPDATE published to signalled (polling)", published - took)
        console = boot.console()
    # The agent ran from the unit: systemd says so on the console.
    assert "stoker" in console, console[-3000:]
    signals = stack.signals()
    assert set(signals) == set(ids) | {"40_update"}, signals
    check_applied(fresh_tree, signals, ids, "boot")
    assert signals["40_update"]["deploy_status_code"] == 0, signals["40_update"]
    assert signals["40_update"]["result"] == "hello update"
    assert (fresh_tree / "/root/update-marker").read_text() == "script says update\n"
    assert (fresh_tree / f"/var/lib/heat-config/deployed/{update_id}.notify.json").exists()
