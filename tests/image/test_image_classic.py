"""The classic chain (DIB_HEAT_CONFIG_AGENT=classic), booted with systemd-nspawn.

Some operators keep os-collect-config, os-refresh-config and os-apply-config (from
Debian here) and use stoker only as the dispatcher. The image must then work with no
command typed, exactly as upstream images did: os-collect-config reads the first-boot
cfn-init-data (its heat_local collector), os-refresh-config's 20-os-apply-config renders
the next /etc/os-collect-config.conf from the metadata's os-collect-config key (the cfn
section), os-collect-config re-reads it and polls heat-api-cfn, and on each new document
55-heat-config runs ``stoker dispatch``, which runs the deployments and signals them.
"""
from __future__ import annotations

import pytest

from .conftest import record_time
from .deployments import Stack, component_config, script_config
from .rootfs import Boot

pytestmark = pytest.mark.image


def test_classic_chain_polls_renders_and_dispatches_to_stoker_with_no_command_typed(
        nspawn, classic_tree, cfn, tmp_path):
    stack = Stack(cfn)
    script_id = stack.add("10_script", "script", script_config("/root/script-marker"),
                          {"greeting": "classic"}, outputs=["result"])
    stack.add("20_component", "component", component_config("/root/component-marker", "/root/deleted-marker"))
    stack.publish(polling_interval=2)
    classic_tree.write("/var/lib/heat-cfntools/cfn-init-data", stack.cfn_init_data(polling_interval=2), 0o600)

    with Boot(classic_tree.path, tmp_path / "console.log") as boot:
        took = boot.wait_for("both signals", lambda: len(stack.signals()) == 2, timeout=300)
        record_time("nspawn, classic chain: boot to both deployments signalled", took)
        console = boot.console()

    signals = stack.signals()
    assert signals["10_script"]["deploy_status_code"] == 0, signals["10_script"]
    assert signals["10_script"]["result"] == "hello classic"
    assert signals["20_component"]["deploy_status_code"] == 0, signals["20_component"]
    assert (classic_tree / "/root/script-marker").read_text() == "script says classic\n"
    assert (classic_tree / "/root/component-marker").read_text() == "component CREATE\n"
    # The chain did it: os-collect-config ran, os-apply-config rendered its next config
    # (the cfn transport, secret-bearing, so private), stoker's own unit stayed off.
    assert "os-collect-config" in console, console[-3000:]
    rendered = classic_tree / "/etc/os-collect-config.conf"
    assert "[cfn]" in rendered.read_text() and rendered.stat().st_mode & 0o077 == 0
    # Only one agent: systemd's first-boot presets must not switch stoker's own unit on.
    assert "Started stoker.service" not in console.replace("\x1b[0;1;39m", "").replace("\x1b[0m", ""), \
        "stoker.service ran beside os-collect-config"
    assert not (classic_tree / "/etc/systemd/system/multi-user.target.wants/stoker.service").exists()
    # The run-once records upstream tools read are there too.
    assert (classic_tree / f"/var/lib/heat-config/deployed/{script_id}.notify.json").exists()
