"""Build images with disk-image-create for the image tier, once, cached by their inputs.

A build takes minutes and about 2 GB of /tmp, so each kind of image (a tar tree, a
qcow2) is built at most once per change of what goes into it: the elements, the agent,
the hooks, the packaging and the element list. The result is kept under the cache dir
($STOKER_IMAGE_CACHE, default ``$REPO/.image-cache``), keyed by a hash of those inputs,
and only the newest build of each kind is kept (an image is close to 1 GB).

Everything machine-specific is read at run time: the Debian mirror from the host's apt
sources (never written into the repository), the tools from ``$DIB_VENV`` (installed by
tests/setup.d/40-dib).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent / "tools"
DIB_VENV = Path(os.environ.get("DIB_VENV", REPO / ".dib-venv"))
CACHE = Path(os.environ.get("STOKER_IMAGE_CACHE", REPO / ".image-cache"))
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BUILD_TIMEOUT = 45 * 60
# diskimage-builder shares its caches (apt archives, debootstrap tarballs) between all builds
# on the machine, and apt in one build chroot fails on the lock another holds: builds from
# any checkout wait for each other here (one at a time is also what 2 cores and /tmp allow).
MACHINE_BUILD_LOCK = Path(os.environ.get("DIB_IMAGE_CACHE", "~/.cache/image-create")).expanduser() / ".stoker-build.lock"

# What the wheel and the elements are made of: a change in any of these makes a new image.
INPUTS = ("elements", "agent", "hooks", "setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in")
# Left out when the repository is copied to build the wheel (big, or not part of the package).
NOT_COPIED = {".git", ".venv", ".dib-venv", ".image-cache", ".heat-harness", ".pytest_cache",
              ".bench", "build", "dist", "__pycache__", "tests", "bench", ".occ-venv", ".oac-venv",
              ".salt-venv", ".conformance-cache", ".hypothesis"}


class ImageToolsMissing(Exception):
    """The host lacks what the image tier needs; the tests skip with this message."""


@dataclass
class Build:
    """One built image: where it is, and what it cost (``seconds`` is 0 for a cache hit)."""

    path: Path
    log: Path
    seconds: float
    cached: bool


def check_host() -> None:
    """Raise ImageToolsMissing unless this host can build images (root, dib, debootstrap)."""
    if os.geteuid() != 0:
        raise ImageToolsMissing("the image tier needs root (debootstrap, chroot, mounts)")
    if not (DIB_VENV / "bin" / "disk-image-create").exists():
        raise ImageToolsMissing(f"no disk-image-create in {DIB_VENV}: run tests/setup.d/40-dib")
    for tool in ("debootstrap", "qemu-img"):
        if shutil.which(tool) is None:
            raise ImageToolsMissing(f"{tool} is not installed: run tests/setup.d/40-dib")
    if not APT_SOURCES.exists():
        raise ImageToolsMissing(f"{APT_SOURCES} is missing: cannot tell which Debian mirror to use")


def mirror_settings(sources: Path = APT_SOURCES) -> dict[str, str]:
    """The DIB_* mirror variables, read from this machine's apt sources (deb822 format).

    The mirror differs between machines and must never be written into the repository,
    so it is looked up here on every run. Without the security mirror apt fails in the
    chroot (the public security host is not reachable from these machines).
    """
    mirror = security = None
    for line in sources.read_text(encoding="utf-8").splitlines():
        if not line.startswith("URIs:"):
            continue
        uri = line.split()[1]
        if "security" in uri:
            security = security or uri
        else:
            mirror = mirror or uri
    if mirror is None:
        raise ImageToolsMissing(f"no URIs: line in {sources}")
    settings = {"DIB_DISTRIBUTION_MIRROR": mirror}
    if security:
        settings["DIB_DEBIAN_SECURITY_MIRROR"] = security
    return settings


def dib_environment(extra: dict[str, str] | None = None, with_tools: bool = False) -> dict[str, str]:
    """The environment for disk-image-create, with settings measured to work on these machines.

    ``with_tools`` puts the kpartx/dmsetup/sudo stand-ins first on PATH, which partitioned
    (qcow2) builds need because this kernel has no device-mapper.
    """
    env = dict(os.environ)
    env.update(mirror_settings())
    env.update({
        "DIB_RELEASE": "bookworm", "DIB_DEBIAN_COMPONENTS": "main", "DIB_PYTHON_VERSION": "3",
        "DIB_DEBOOTSTRAP_CACHE": "1", "DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE": "1",
        "ELEMENTS_PATH": str(REPO / "elements"),
    })
    path = [str(DIB_VENV / "bin"), env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")]
    if with_tools:
        path.insert(0, str(TOOLS))
    env["PATH"] = ":".join(path)
    env.update(extra or {})
    return env


def _files(root: Path) -> Iterator[Path]:
    for name in INPUTS:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*")
                              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def fingerprint(kind: str, elements: list[str], settings: dict[str, str],
                extra_files: list[Path] = ()) -> str:
    """A hash of everything that goes into the image, so a cached build is reused only when valid."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"kind": kind, "elements": elements, "settings": settings}, sort_keys=True).encode())
    for path in [*_files(REPO), *extra_files]:
        digest.update(str(path.relative_to(REPO) if path.is_relative_to(REPO) else path.name).encode())
        digest.update(b"\0" + (os.readlink(path).encode() if path.is_symlink() else path.read_bytes()) + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
    return digest.hexdigest()[:16]


def _can_build_wheels_here() -> bool:
    """True when this interpreter can build the wheel itself (offline, and quicker than an
    isolated build env from the index): setuptools with bdist_wheel, built in from 70.1."""
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401
        return True
    except ImportError:
        major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
        return (major, minor) >= (70, 1)


def build_wheelhouse(dest: Path) -> Path:
    """Build stoker's wheel from the working tree into ``dest`` (the element's offline source).

    The tree is copied first so that the build neither writes into the repository (other
    work goes on there) nor picks up stale files from an old ``build/`` directory.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stoker-src-") as tmp:
        src = Path(tmp) / "stoker"
        shutil.copytree(REPO, src, symlinks=True,
                        ignore=lambda _d, names: [n for n in names if n in NOT_COPIED or n.endswith(".egg-info")])
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
               "-w", str(dest), str(src)]
        if _can_build_wheels_here():
            cmd.insert(4, "--no-build-isolation")
        subprocess.run(cmd, check=True, timeout=600)
    wheels = sorted(dest.glob("stoker-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel made no stoker wheel in {dest}")
    return dest


@contextlib.contextmanager
def _locked(path: Path, mode: int = fcntl.LOCK_EX) -> Iterator[None]:
    """Hold a lock file for the block (exclusive: one build per kind at a time, across
    concurrent test sessions, which share 2 cores and need 2 GB of /tmp each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_in_use: list[object] = []  # open handles whose shared locks keep this session's images alive


def _hold(entry: Path) -> None:
    """Mark ``entry`` as in use by this session (a shared lock, released when the process ends)."""
    handle = open(entry / ".in-use", "a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    _in_use.append(handle)


def _prune(kind: str, keep: Path) -> None:
    """Remove older images of ``kind`` (each is close to 1 GB), except those another session uses."""
    for old in CACHE.glob(f"{kind}-*"):
        if old == keep:
            continue
        try:
            with open(old / ".in-use", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(old, ignore_errors=True)
        except BlockingIOError:
            continue
        except FileNotFoundError:
            shutil.rmtree(old, ignore_errors=True)


def _run_build(cmd: list[str], env: dict[str, str], log: Path, cwd: str) -> int:
    """Run disk-image-create in its own process group and never leave it behind.

    If the test session is interrupted or killed with SIGTERM (a ``timeout`` around
    pytest), the build gets SIGTERM too, so that its own traps unmount the chroot and free
    the loop device, and is killed if it does not stop.
    """
    previous = signal.getsignal(signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    with open(log, "a", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True)
        if main_thread:
            signal.signal(signal.SIGTERM, on_term)
        try:
            return proc.wait(timeout=BUILD_TIMEOUT)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)


def build_image(kind: str, image_type: str, elements: list[str], settings: dict[str, str],
                extra_files: list[Path] = (), prepare=None, with_tools: bool = False) -> Build:
    """Build (or reuse) an image of ``image_type`` ("tar", "qcow2") from ``elements``.

    ``settings`` are element variables (they go into the cache key; paths among them must
    name files whose content is in ``extra_files``). ``prepare(workdir) -> dict`` runs before
    a real build and returns more environment (for example the wheelhouse location, which
    is rebuilt from the sources each time and so is not part of the key itself).
    The image stays in use (safe from pruning by other sessions) until this process ends.
    """
    key = fingerprint(kind, elements, settings, list(extra_files))
    entry = CACHE / f"{kind}-{key}"
    image = entry / f"image.{image_type}"
    log = entry / "build.log"
    with _locked(CACHE / f".{kind}.lock"):
        if os.environ.get("STOKER_IMAGE_REUSE") == "1" and not image.exists():
            # For iterating on the tests themselves: take the newest image of this kind even
            # though the agent or elements changed since (never for a real verdict).
            built = sorted(CACHE.glob(f"{kind}-*/done"), key=lambda p: p.stat().st_mtime)
            if built:
                entry, image, log = built[-1].parent, built[-1].parent / f"image.{image_type}", built[-1].parent / "build.log"
        if image.exists() and (entry / "done").exists():
            _hold(entry)
            return Build(image, log, 0.0, True)
        shutil.rmtree(entry, ignore_errors=True)  # a build that was interrupted
        entry.mkdir(parents=True)
        _hold(entry)
        _prune(kind, keep=entry)
        with tempfile.TemporaryDirectory(prefix="stoker-dib-") as work:
            env_extra = dict(settings)
            if prepare is not None:
                env_extra.update(prepare(Path(work)))
            env = dib_environment(env_extra, with_tools=with_tools)
            cmd = ["disk-image-create", "-a", "amd64", "-t", image_type, "-o", str(entry / "image"),
                   *elements]
            log.write_text("# " + " ".join(cmd) + "\n", encoding="utf-8")
            with _locked(MACHINE_BUILD_LOCK):
                start = time.monotonic()
                returncode = _run_build(cmd, env, log, work)
                seconds = time.monotonic() - start
        if returncode != 0 or not image.exists():
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:])
            raise RuntimeError(f"disk-image-create failed ({returncode}); log {log}:\n{tail}")
        (entry / "done").write_text(json.dumps({"seconds": round(seconds, 1), "elements": elements}) + "\n")
        return Build(image, log, seconds, False)


def extract_tar(image: Path, dest: Path) -> Path:
    """Unpack a tar image as the root of a tree, with the ids as stored (``--numeric-owner``).

    The tar leaves out /proc and /sys; they are made here so the tree can be chrooted or booted.
    """
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--numeric-owner", "-xpf", str(image), "-C", str(dest)], check=True, timeout=600)
    for name in ("proc", "sys", "dev", "run", "tmp"):
        (dest / name).mkdir(exist_ok=True)
    return dest
