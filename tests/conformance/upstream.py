"""heat-agents' own tests, fetched at test time and pointed at stoker's hooks.

heat-agents ships black-box tests for its hooks, for ``55-heat-config`` and
for ``heat-config-notify``: each runs the executable as a process (often with
a fake tool that records its argv, environment and files) and checks what it
printed and wrote. Running them against stoker is the plainest proof that
stoker is a drop-in. The source distribution is downloaded from the package
index at test time (never committed), unpacked into a scratch directory, and
the executables the tests run are replaced by links to stoker's: each
``heat-config-<group>/install.d/hook-<group>.py`` by ``hooks/<group>``,
``55-heat-config`` by a script that runs ``stoker dispatch``, and
``heat-config-notify`` by stoker's notifier. Tests that cannot apply are
listed, with the reason, in ``not-applicable.txt`` beside this module.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "13.0.0"
SDIST = f"heat_agents-{VERSION}.tar.gz"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIST_FILE = HERE / "not-applicable.txt"
# stoker's hooks that take the place of upstream's hook of the same group.
STOKER_HOOKS = ("script", "puppet", "ansible", "json-file", "hiera", "apply-config", "salt", "chef")


def cache_dir() -> Path:
    """Where the downloaded sdist is kept between runs (ignored by git)."""
    return Path(os.environ.get("STOKER_CONFORMANCE_CACHE") or REPO / ".conformance-cache")


def fetch_sdist() -> Path:
    """The heat-agents sdist, downloaded once with pip from the configured package index."""
    target = cache_dir()
    path = target / SDIST
    if path.is_file():
        return path
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "--no-deps", "--no-binary", ":all:", "-d", str(target), f"heat-agents=={VERSION}"],
                   check=True, stdout=subprocess.DEVNULL)
    if not path.is_file():
        raise FileNotFoundError(f"pip download left no {SDIST} in {target}")
    return path


def unpack(sdist: Path, into: Path) -> Path:
    """Unpack the sdist under ``into``; return the tree's root."""
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    return into / f"heat_agents-{VERSION}"


def _replace_with_link(path: Path, target: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def point_at_stoker(tree: Path, bindir: Path) -> None:
    """Swap upstream's executables in ``tree`` for stoker's (the tests find them by these paths)."""
    for group in STOKER_HOOKS:
        _replace_with_link(tree / f"heat-config-{group}" / "install.d" / f"hook-{group}.py",
                           REPO / "hooks" / group)
    dispatcher = tree / "heat-config" / "os-refresh-config" / "configure.d" / "55-heat-config"
    dispatcher.unlink()
    dispatcher.write_text(f"#!/bin/sh\n# stoker in place of upstream's dispatcher\n"
                          f"exec {bindir / 'stoker'} dispatch \"$@\"\n")
    dispatcher.chmod(0o755)
    _replace_with_link(tree / "heat-config" / "bin" / "heat-config-notify", bindir / "heat-config-notify")


@dataclass(frozen=True)
class NotApplicable:
    """One line of the list: an upstream test file or test id, and why it does not apply."""

    target: str
    reason: str

    @property
    def whole_file(self) -> bool:
        return "::" not in self.target


def not_applicable(path: Path = LIST_FILE) -> list[NotApplicable]:
    """The listed tests: ``<file or test id>  <reason>`` per line, ``#`` comments."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        target, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path}: {target} is listed without a reason")
        entries.append(NotApplicable(target, reason.strip()))
    return entries


def pytest_args(entries: list[NotApplicable]) -> list[str]:
    """``--ignore`` for listed files, ``--deselect`` for listed tests."""
    args = []
    for entry in entries:
        args += ["--ignore", entry.target] if entry.whole_file else ["--deselect", entry.target]
    return args


def prepare(workdir: Path, bindir: Path) -> Path:
    """A fresh upstream tree under ``workdir`` wired to stoker; its root."""
    tree = unpack(fetch_sdist(), workdir)
    point_at_stoker(tree, bindir)
    return tree


def clean(tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)
