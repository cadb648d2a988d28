"""The qcow2 image booted under qemu: a whole server, from GRUB to the signal Heat receives.

The image is what the README tells image builders to make (``disk-image-create vm
debian-minimal cloud-init cloud-init-datasources dhcp-all-interfaces heat-config
heat-config-script``). Nova's part is played by qemu: the server's disk, a config drive
holding Heat-shaped user-data, and a restricted user network whose only way out is the
metadata address, forwarded to the loopback heat-api-cfn. Under software emulation the
image boots, takes a DHCP lease, cloud-init writes cfn-init-data from the user-data,
systemd starts the agent, and the agent polls, runs the deployments and signals them.
The test only watches from the host: nothing is typed in the guest.
"""
from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import record_time
from .deployments import Stack, component_config, heat_user_data, script_config
from .vm import METADATA_ADDRESS, QemuVM, VmToolsMissing, check_vm_host, config_drive, raw_copy, read_from

pytestmark = [pytest.mark.image, pytest.mark.vm, pytest.mark.slow]

# TCG is slow (about 70 s to a login prompt); the whole path to the last signal takes a
# few minutes, and a loaded CI machine may double it.
SIGNAL_TIMEOUT = 900

# Facts only the guest can give: its kernel command line (set by the image's GRUB
# config), the address its DHCP client leased (on qemu's user network) and its hostname.
GUEST_FACTS = """#!/bin/sh
set -e
grep -o 'net.ifnames=0' /proc/cmdline
sed -n 's/^ *fixed-address \\([0-9.]*\\);/\\1/p' /var/lib/dhcp/dhclient*.leases | head -n 1
printf '%s' "$greeting from $(cat /etc/hostname)" > "$heat_outputs_path.result"
"""


@pytest.fixture
def vm_host(image_host) -> None:
    try:
        check_vm_host()
    except VmToolsMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture
def stack(cfn) -> Stack:
    """A stack on the loopback heat-api-cfn as the guest sees it: at the metadata address."""
    cfn.advertised_url = f"http://{METADATA_ADDRESS}"
    return Stack(cfn)


@dataclass
class Server:
    """What Nova gives a server booted from the image: its own disk and a config drive."""

    disk: Path
    config_drive: Path

    def boot(self, console_log: Path, metadata_port: int) -> QemuVM:
        return QemuVM(self.disk, console_log, metadata_port, read_only_disks=[self.config_drive])


@pytest.fixture
def server(qcow2_image, stack, tmp_path) -> Server:
    """A private raw copy of the image, and a config drive with Heat's user-data for it."""
    user_data = heat_user_data(stack.cfn_init_data(polling_interval=5))
    meta_data = {"uuid": str(uuid.uuid4()), "name": "heat-server", "hostname": "heat-server",
                 "availability_zone": "nova", "launch_index": 0}
    return Server(raw_copy(qcow2_image.path, tmp_path / "disk.raw"),
                  config_drive(tmp_path / "config-drive.img", meta_data, user_data))


def signal_counts(cfn) -> Counter:
    return Counter(signal.resource for signal in cfn.signals)


def test_vm_boots_and_signals_its_deployments_through_the_metadata_address(vm_host, cfn, stack, server, tmp_path):
    facts_id = stack.add("10_facts", "script", GUEST_FACTS, {"greeting": "hello"}, outputs=["result"])
    component_id = stack.add("20_component", "component", component_config("/root/component-marker", "/root/deleted-marker"))
    stack.publish(polling_interval=5)

    with server.boot(tmp_path / "serial.log", cfn.port) as vm:
        took = vm.wait_for("both signals", lambda: len(stack.signals()) == 2, timeout=SIGNAL_TIMEOUT)
        record_time("qemu (TCG): power on to both deployments signalled", took)
        console = vm.console()
    signals = stack.signals()

    facts = signals["10_facts"]
    assert facts["deploy_status_code"] == 0, facts
    stdout_lines = facts["deploy_stdout"].split()
    assert stdout_lines[0] == "net.ifnames=0", facts
    assert stdout_lines[1:] == ["169.254.169.15"], facts  # leased from qemu's user network
    assert facts["result"] == "hello from heat-server", facts  # cloud-init set it from the config drive
    assert signals["20_component"]["deploy_status_code"] == 0, signals["20_component"]

    # Everything reached the server through the forwarded metadata address, signed for it.
    hosts = {request.header("Host") for request in cfn.requests}
    assert hosts == {METADATA_ADDRESS}, hosts
    assert "stoker" in console, console[-3000:]

    # The guest's disk holds what `stoker status` reads after a reboot: both deployments
    # recorded as done (the agent syncs these; qemu was stopped without a shutdown).
    for ident in (facts_id, component_id):
        assert read_from(server.disk, f"/var/lib/heat-config/deployed/{ident}.json") is not None, ident


def test_power_cut_during_a_hook_is_signalled_as_a_failure_after_reboot_and_nothing_runs_twice(
        vm_host, cfn, stack, server, tmp_path):
    stack.add("10_first", "script", script_config("/root/first-marker"), {"greeting": "first"}, outputs=["result"])
    stack.add("20_hangs", "script", "#!/bin/sh\necho 'started, now hanging'\nexec sleep 3600\n")
    stack.publish(polling_interval=5)

    with server.boot(tmp_path / "boot1.log", cfn.port) as vm:
        # The cut comes once the agent has recorded 10_first's signal as delivered: a cut
        # between Heat's receipt and that record would rightly send it again after the reboot
        # (delivery is at least once; the agent cannot know the POST got through).
        vm.wait_for("10_first's signal to be recorded as delivered",
                    lambda: "signal for 10_first delivered" in vm.console(), timeout=SIGNAL_TIMEOUT)
        vm.wait_for("20_hangs to start", lambda: "deployment 20_hangs started" in vm.console(), timeout=120)
        vm.power_cut()
    assert "20_hangs" not in stack.signals()

    # While the server is down, Heat publishes another deployment.
    stack.add("30_after", "script", script_config("/root/after-marker"), {"greeting": "after"},
              outputs=["result"], action="UPDATE")
    stack.publish(polling_interval=5)
    with server.boot(tmp_path / "boot2.log", cfn.port) as vm:
        took = vm.wait_for("the signals after the reboot",
                           lambda: {"20_hangs", "30_after"} <= set(stack.signals()), timeout=SIGNAL_TIMEOUT)
        record_time("qemu (TCG): power on after a power cut to the interrupted and the new deployment signalled", took)
        time.sleep(10)  # two more polls: time for a repeated run or signal to show up

    signals = stack.signals()
    interrupted = signals["20_hangs"]
    assert interrupted["deploy_status_code"] != 0, interrupted
    assert "interrupted: the server restarted while the hook was running" in interrupted["deploy_stderr"], interrupted
    assert signals["30_after"]["deploy_status_code"] == 0, signals["30_after"]
    assert signals["30_after"]["result"] == "hello after"
    # The deployment that finished before the power cut is neither run nor signalled again.
    assert signal_counts(cfn) == {"10_first": 1, "20_hangs": 1, "30_after": 1}, signal_counts(cfn)
