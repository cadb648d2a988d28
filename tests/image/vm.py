"""Boot a built qcow2 under qemu (software emulation) with only the metadata address reachable.

The VM gets a restricted user-mode network (``restrict=on``: no route out of the guest)
whose one way out is a guest forward of the metadata address, 169.254.169.254:80, to a
command: qemu starts ``tools/relay PORT`` for each guest connection, and the relay copies
the bytes to a loopback server on 127.0.0.1:PORT. So the agent in the guest talks to the
test's heat-api-cfn as if it stood at the metadata address, and the host itself never
sends a packet anywhere but to 127.0.0.1.

The VM boots a private raw copy of the image, with a config drive as Nova makes one for
cloud-init; the image's filesystem can be read on the host after the VM stopped.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

from .imagebuild import TOOLS
from .rootfs import BootedSystem

METADATA_ADDRESS = "169.254.169.254"
# The guest's network: the metadata address must be inside it for the guest to reach it
# on-link (qemu answers ARP for its forwards), as on a cloud's link-local metadata route.
GUEST_NETWORK = "net=169.254.169.0/24,host=169.254.169.2,dhcpstart=169.254.169.15"
QEMU = "qemu-system-x86_64"


class VmToolsMissing(Exception):
    """qemu or a filesystem tool is missing; the VM tier skips with this message."""


# partx, mount and umount live in the sbin directories, which a test's PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


def tool(name: str) -> str:
    """The full path of a host tool, or VmToolsMissing saying how to get it."""
    path = shutil.which(name, path=SEARCH_PATH)
    if path is None:
        raise VmToolsMissing(f"{name} is not installed: run tests/setup.d/40-dib")
    return path


def check_vm_host() -> None:
    for name in (QEMU, "qemu-img", "partx", "mount", "umount", "genisoimage"):
        tool(name)


def raw_copy(qcow2: Path, dest: Path) -> Path:
    """A private, writable raw copy of the image (sparse: only the data takes space)."""
    subprocess.run([tool("qemu-img"), "convert", "-f", "qcow2", "-O", "raw", str(qcow2), str(dest)],
                   check=True, timeout=600)
    return dest


def root_partition_offset(raw: Path) -> int:
    """Byte offset of the largest partition, which in a DIB ``vm`` image is the root filesystem.

    partx reads the table of an image file directly, in 512-byte sectors.
    """
    table = subprocess.run([tool("partx"), "-g", "-r", "-o", "START,SECTORS", str(raw)], check=True,
                           capture_output=True, text=True, timeout=60).stdout
    partitions = [tuple(int(field) for field in line.split()) for line in table.splitlines() if line.strip()]
    if not partitions:
        raise AssertionError(f"no partition table in {raw}")
    start, _sectors = max(partitions, key=lambda part: part[1])
    return start * 512


@contextlib.contextmanager
def mounted_root(raw: Path) -> Iterator[Path]:
    """The raw image's root filesystem mounted through a loop device at its offset.

    No partition mapping is needed (this kernel has no device-mapper): ``mount -o
    loop,offset=`` reads the filesystem where the partition table says it starts.
    """
    with tempfile.TemporaryDirectory(prefix="stoker-vmroot-") as mountpoint:
        subprocess.run([tool("mount"), "-o", f"loop,offset={root_partition_offset(raw)}", str(raw), mountpoint],
                       check=True, timeout=60)
        try:
            yield Path(mountpoint)
        finally:
            subprocess.run([tool("umount"), mountpoint], check=True, timeout=60)


def read_from(raw: Path, inside: str) -> str | None:
    """A file from the guest's disk after the VM stopped (None when it is not there)."""
    with mounted_root(raw) as root:
        path = root / inside.lstrip("/")
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def config_drive(dest: Path, meta_data: dict, user_data: bytes) -> Path:
    """A Nova config drive: an ISO 9660 image labelled ``config-2`` holding
    ``openstack/latest/meta_data.json`` and ``user_data``, made with genisoimage as Nova
    makes it. cloud-init's ConfigDrive datasource reads it at first boot (as on a cloud
    with ``config_drive: true``). Nothing is mounted on the host."""
    with tempfile.TemporaryDirectory(prefix="stoker-configdrive-") as tree:
        latest = Path(tree) / "openstack" / "latest"
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(meta_data), encoding="utf-8")
        (latest / "user_data").write_bytes(user_data)
        subprocess.run([tool("genisoimage"), "-o", str(dest), "-V", "config-2", "-J", "-r", "-l", "-ldots",
                        "-allow-lowercase", "-allow-multidot", "-quiet", tree],
                       check=True, capture_output=True, timeout=60)
    return dest


class QemuVM(BootedSystem):
    """One VM under TCG, its serial console in a file, its metadata address forwarded to
    ``127.0.0.1:metadata_port``. SIGTERM stops qemu at once (the guest disk is a throwaway
    copy; what the test reads from it afterwards was synced by the agent's own fsyncs)."""

    what = "VM"

    def __init__(self, disk: Path, console_log: Path, metadata_port: int,
                 read_only_disks: list[Path] = (), memory_mb: int = 1024, cpus: int = 2) -> None:
        super().__init__(console_log)
        self.disk = disk
        self.read_only_disks = list(read_only_disks)
        self.metadata_port = metadata_port
        self.memory_mb = memory_mb
        self.cpus = cpus

    def command(self) -> list[str]:
        relay = TOOLS / "relay"
        forward = f"guestfwd=tcp:{METADATA_ADDRESS}:80-cmd:{relay} {self.metadata_port}"
        return [tool(QEMU), "-machine", "q35,accel=tcg", "-cpu", "max", "-m", str(self.memory_mb),
                "-smp", str(self.cpus), "-nodefaults", "-no-user-config",
                "-drive", f"file={self.disk},format=raw,if=virtio",
                *[arg for extra in self.read_only_disks
                  for arg in ("-drive", f"file={extra},format=raw,if=virtio,readonly=on")],
                "-display", "none", "-serial", f"file:{self.console_log}", "-monitor", "none",
                "-netdev", f"user,id=n0,restrict=on,{GUEST_NETWORK},{forward}",
                "-device", "virtio-net-pci,netdev=n0"]

    def output_log(self) -> Path:
        """qemu writes the serial console to console_log itself; its own messages go beside
        it, so a failure to start is visible too."""
        return self.qemu_log

    def environment(self) -> dict[str, str]:
        return {**os.environ, "STOKER_RELAY_LOG": str(self.relay_log)}

    def power_cut(self) -> None:
        """Pull the plug: qemu is killed, the guest gets no shutdown and no last write."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    @property
    def qemu_log(self) -> Path:
        return self.console_log.with_suffix(".qemu.log")

    @property
    def relay_log(self) -> Path:
        return self.console_log.with_suffix(".relay.log")

    def console(self) -> str:
        """The serial console, then whatever qemu and the relays said (failures to start)."""
        text = super().console()
        for name, log in (("qemu", self.qemu_log), ("relay", self.relay_log)):
            said = log.read_text(errors="replace") if log.exists() else ""
            if said.strip():
                text += f"\n[{name}]\n{said}"
        return text
