"""Fixtures of the image tier: one image build per session, a fresh tree for each test that writes.

The tar image is built once per session (and reused across sessions while its inputs are
unchanged, see imagebuild.py), from the wheel of the working tree, offline: the wheel and
a stand-in chef package are copied in by the elements' extra-data.d scripts, exactly as an
air-gapped image builder would do it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.loopback.cfn import CfnServer

from . import imagebuild
from .rootfs import ImageRoot

REPO = imagebuild.REPO
FAKE_CHEF = REPO / "tests" / "fakes" / "chef-solo"
# Hook elements built into the test image when the repository has their hook.
HOOK_ELEMENTS = ("script", "puppet", "ansible", "jinja2", "chef", "json-file", "hiera", "apply-config", "salt")
TIMINGS: list[tuple[str, float]] = []


def record_time(what: str, seconds: float) -> None:
    """Keep a duration for the end-of-session summary (build and boot times are worth watching)."""
    TIMINGS.append((what, seconds))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if TIMINGS:
        terminalreporter.write_sep("-", "image tier timings")
        for what, seconds in TIMINGS:
            terminalreporter.write_line(f"{seconds:8.1f}s  {what}")


def record_build(what: str, elements: list[str], build: imagebuild.Build) -> None:
    record_time(f"build {what} ({' '.join(elements)})" + (" [cached]" if build.cached else ""), build.seconds)


def wheelhouse_only(work: Path) -> dict[str, str]:
    """The build environment of an image whose only offline input is stoker's wheel."""
    return {"DIB_STOKER_WHEELHOUSE": str(imagebuild.build_wheelhouse(work / "wheelhouse"))}


def hook_elements() -> list[str]:
    """heat-config-<hook> for every hook whose element and hook file both exist."""
    return [f"heat-config-{hook}" for hook in HOOK_ELEMENTS
            if (REPO / "hooks" / hook).is_file() and (REPO / "elements" / f"heat-config-{hook}").is_dir()]


def build_fake_cinc_deb(dest: Path) -> Path:
    """A .deb that installs the recording chef-solo stand-in as Cinc would: /opt/cinc/bin/cinc-solo.

    No registry here has chef or cinc. The package exercises the element's real path for a
    builder-supplied package (copy in, apt-get install, find cinc-solo, link chef-solo).
    """
    root = dest / "fake-cinc"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake-cinc\nVersion: 0.0.1\nArchitecture: all\nMaintainer: stoker tests <tests@localhost>\n"
        "Depends: python3\nDescription: recording stand-in for cinc-solo (stoker's image tests)\n")
    lib = root / "opt" / "cinc" / "lib"
    lib.mkdir(parents=True)
    shutil.copy(FAKE_CHEF, lib / "fake-chef-solo")
    wrapper = root / "opt" / "cinc" / "bin" / "cinc-solo"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("#!/bin/sh\n# Records each call, as tests/fakes/chef-solo does.\n"
                       ": \"${FAKE_CHEF_RECORD:=/var/log/fake-cinc-solo.json}\"\nexport FAKE_CHEF_RECORD\n"
                       "exec python3 /opt/cinc/lib/fake-chef-solo \"$@\"\n")
    for path in (wrapper, lib / "fake-chef-solo"):
        path.chmod(0o755)
    deb = dest / "fake-cinc_0.0.1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True,
                   capture_output=True, timeout=120)
    return deb


def build_salt_wheelhouse(dest: Path) -> Path:
    """Salt's wheels and its dependencies', for the heat-config-salt element to install offline
    (pip in the build chroot cannot reach the index here; air-gapped builders are in the same spot)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(dest),
                    "salt"], check=True, capture_output=True, timeout=1200)
    return dest


def image_elements() -> list[str]:
    return ["debian-minimal", "heat-config", *hook_elements()]


@pytest.fixture(scope="session")
def image_host() -> None:
    """Skip the image tier, saying what is missing, on a host that cannot build images."""
    try:
        imagebuild.check_host()
    except imagebuild.ImageToolsMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def tar_image(image_host) -> imagebuild.Build:
    """The tar image of heat-config and every hook element, built once (cached by its inputs)."""
    elements = image_elements()
    with_chef = "heat-config-chef" in elements
    with_salt = "heat-config-salt" in elements

    def prepare(work: Path) -> dict[str, str]:
        env = wheelhouse_only(work)
        if with_chef:
            env["DIB_HEAT_CONFIG_CHEF_PACKAGE"] = str(build_fake_cinc_deb(work))
        if with_salt:
            env["DIB_HEAT_CONFIG_SALT_WHEELHOUSE"] = str(build_salt_wheelhouse(work / "salt-wheels"))
        return env

    build = imagebuild.build_image("tar", "tar", elements, {"DIB_HEAT_CONFIG_AGENT": "stoker"},
                                   extra_files=[FAKE_CHEF] if with_chef else [], prepare=prepare)
    record_build("tar image", elements, build)
    return build


# The VM image, as the README tells image builders to make it: the agent and the script
# hook, cloud-init reading a config drive or the metadata service (as Nova offers them),
# a DHCP client on every NIC (a bare debian-minimal has none) and, for diagnosis, the
# journal on the serial console. The kernel command line makes the NIC eth0.
VM_ELEMENTS = ["vm", "debian-minimal", "cloud-init", "cloud-init-datasources", "dhcp-all-interfaces",
               "journal-to-console", "heat-config", "heat-config-script"]
VM_SETTINGS = {"DIB_HEAT_CONFIG_AGENT": "stoker", "DIB_CLOUD_INIT_DATASOURCES": "ConfigDrive, OpenStack",
               "DIB_BOOTLOADER_DEFAULT_CMDLINE": "nofb nomodeset gfxpayload=text net.ifnames=0"}


@pytest.fixture(scope="session")
def qcow2_image(image_host) -> imagebuild.Build:
    """The partitioned, bootable qcow2 of the VM tier, built once (cached by its inputs).

    A partitioned build needs the kpartx/dmsetup/sudo stand-ins (no device-mapper here).
    """
    build = imagebuild.build_image("qcow2", "qcow2", VM_ELEMENTS, VM_SETTINGS, prepare=wheelhouse_only,
                                   with_tools=True)
    record_build("qcow2 image", VM_ELEMENTS, build)
    return build


# The classic chain's image: os-collect-config, os-refresh-config and os-apply-config from
# Debian, with configure.d/55-heat-config handing deployments to "stoker dispatch".
CLASSIC_ELEMENTS = ["debian-minimal", "heat-config", "heat-config-script"]


@pytest.fixture(scope="session")
def classic_tar_image(image_host) -> imagebuild.Build:
    """A tar image built with DIB_HEAT_CONFIG_AGENT=classic (cached by its inputs)."""
    build = imagebuild.build_image("classic", "tar", CLASSIC_ELEMENTS, {"DIB_HEAT_CONFIG_AGENT": "classic"},
                                   prepare=wheelhouse_only)
    record_build("classic-chain tar image", CLASSIC_ELEMENTS, build)
    return build


@pytest.fixture
def cfn(cfn_server: CfnServer) -> CfnServer:
    """The loopback heat-api-cfn (tests/loopback/fixtures.py) the agent inside an image talks to."""
    return cfn_server


@pytest.fixture
def nspawn(image_host) -> str:
    """systemd-nspawn, for the tests that boot an extracted tree."""
    path = shutil.which("systemd-nspawn")
    if path is None:
        pytest.skip("systemd-nspawn is not installed: run tests/setup.d/40-dib")
    return path


def _remove_tree(path: Path) -> None:
    """Delete an extracted tree without ever following a mount out of it (a bound /dev!)."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(path) + "/")), reverse=True):
        subprocess.run(["umount", "-l", mount], timeout=30)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], timeout=600)


@pytest.fixture(scope="session")
def trees_dir(image_host) -> Iterator[Path]:
    """Where extracted trees go ($STOKER_IMAGE_TMP or the system temp dir); removed at the end."""
    base = tempfile.mkdtemp(prefix="stoker-trees-", dir=os.environ.get("STOKER_IMAGE_TMP"))
    yield Path(base)
    _remove_tree(Path(base))


def _extract(build: imagebuild.Build, dest: Path) -> ImageRoot:
    start = time.monotonic()
    imagebuild.extract_tar(build.path, dest)
    record_time(f"extract tar into {dest.name}", time.monotonic() - start)
    return ImageRoot(dest)


@pytest.fixture(scope="session")
def pristine_tree(tar_image, trees_dir) -> ImageRoot:
    """The image as built, shared by the tests that only look (never write into this one)."""
    return _extract(tar_image, trees_dir / "pristine")


def _private_tree(build: imagebuild.Build, trees_dir: Path, request) -> Iterator[ImageRoot]:
    dest = trees_dir / request.node.name[:60].replace("/", "_")
    root = _extract(build, dest)
    yield root
    _remove_tree(dest)


@pytest.fixture
def fresh_tree(tar_image, trees_dir, request) -> Iterator[ImageRoot]:
    """A private copy of the image for a test that runs things in it."""
    yield from _private_tree(tar_image, trees_dir, request)


@pytest.fixture
def classic_tree(classic_tar_image, trees_dir, request) -> Iterator[ImageRoot]:
    """A private copy of the classic-chain image."""
    yield from _private_tree(classic_tar_image, trees_dir, request)
