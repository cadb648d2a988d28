"""stoker under a temporary root, with its defaults except where files go and where to poll.

By default the benchmark installs the checkout into its own temporary venv
(``pip install .``, as the README says), so that stoker is measured as a server
runs it, not through the development venv's editable install (whose import
hook costs every Python start-up, hooks included, about 15 ms).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .upstream import DaemonSide, InstallError, _run

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "agent", "hooks")


@dataclass
class StokerInstall:
    """Where the ``stoker`` command and the Python its hooks start (``#!/usr/bin/env python3``) live."""

    bin: Path
    command: list[str]

    @classmethod
    def create(cls, where: Path, say: Callable[[str], None] = print) -> "StokerInstall":
        """``pip install`` a copy of this checkout into ``where/venv`` (the copy keeps the tree clean)."""
        started = time.monotonic()
        say("installing stoker from this checkout into a temporary venv ...")
        source, venv = where / "source", where / "venv"
        source.mkdir(parents=True, exist_ok=True)
        for name in SOURCES:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif path.exists():
                shutil.copy2(path, source / name)
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install",
              "--no-deps", str(source)])
        shutil.rmtree(source, ignore_errors=True)
        if not (venv / "bin" / "stoker").exists():
            raise InstallError("pip install of stoker left no stoker command")
        say(f"stoker ready in {time.monotonic() - started:.0f}s")
        return cls(venv / "bin", [str(venv / "bin" / "stoker")])

    @classmethod
    def current(cls) -> "StokerInstall":
        """The stoker that the Python running the benchmark has (the test venv)."""
        here = Path(sys.executable).parent
        script = here / "stoker"
        return cls(here, [str(script)] if script.exists() else [sys.executable, "-m", "stoker"])

    def hooks_dir(self) -> Path:
        out = subprocess.run([str(self.bin / "python"), "-c",
                              "from stoker.config import bundled_hooks_dir; print(bundled_hooks_dir() or '')"],
                             stdout=subprocess.PIPE, text=True)
        found = out.stdout.strip()
        if not found:
            raise InstallError("stoker's bundled hooks were not found")
        return Path(found)


class StokerAgent(DaemonSide):
    """``stoker run`` with a config file that keeps everything under ``root``."""

    name = "stoker"

    def __init__(self, install: StokerInstall, root: Path, collect_settings: Mapping,
                 ca_file: Path | None = None) -> None:
        self.install = install
        self.ca_file = ca_file  # HTTPS: the private CA to trust (ca_certificate)
        self.root = root
        self.collect_settings = dict(collect_settings)
        self.conf = root / "stoker.conf"
        self.state = root / "state"
        self.deployed = root / "deployed"
        self.hooks = root / "hooks"
        self.log = root / "agent.log"
        self.process: subprocess.Popen | None = None

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.hooks.mkdir(parents=True, exist_ok=True)
        request = self.collect_settings.get("request") or {}
        lines = [
            "# written by bench/: stoker's defaults, except that every file stays under this",
            "# directory (hooks_dir: an empty directory, so stoker's own hooks are used) and",
            "# the metadata URL is the loopback TempURL",
            "[DEFAULT]",
            *self.own_files(),
            *([f"ca_certificate = {self.ca_file}"] if self.ca_file else []),
            "",
            "[request]",
            f"metadata_url = {request.get('metadata_url', '')}",
            "",
            *self.hook_environment(),
        ]
        self.conf.write_text("\n".join(lines))

    def own_files(self) -> list[str]:
        """``[DEFAULT]`` lines that keep every file the agent reads or writes under ``root``."""
        return [
            f"state_dir = {self.state}",
            f"deployed_dir = {self.deployed}",
            f"hooks_dir = {self.hooks}",
            f"shell_config = {self.root / 'heat-config'}",
            f"cfn_init_data = {self.root / 'cfn-init-data'}",
            f"cfn_metadata_server = {self.root / 'cfn-metadata-server'}",
            f"os_collect_config = {self.root / 'os-collect-config.conf'}",
        ]

    def hook_environment(self) -> list[str]:
        """The ``[hook_environment]`` section: the script hook's directories under ``root``."""
        return ["[hook_environment]",
                f"HEAT_SCRIPT_WORKING = {self.root / 'heat-config-script'}",
                f"HEAT_SCRIPT_OUTPUTS = {self.root / 'outputs'}",
                ""]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("STOKER_CONFIG", "STOKER_STATE_DIR", "HEAT_CONFIG_HOOKS", "HEAT_SHELL_CONFIG",
                    "HEAT_CONFIG_DEPLOYED", "PYTHONPATH"):
            env.pop(var, None)
        env["PATH"] = os.pathsep.join([str(self.install.bin), env.get("PATH", "/usr/bin:/bin")])
        return env

    def argv(self, *command: str) -> list[str]:
        return self.install.command + ["--config", str(self.conf), *(command or ("run",))]

    def daemon_argv(self) -> list[str]:
        return self.argv("run")

    def apply(self, document: dict, timeout: float = 600) -> subprocess.CompletedProcess:
        """``stoker apply`` a document (to give the journal finished deployments)."""
        path = self.root / "apply.json"
        path.write_text(json.dumps(document))
        return subprocess.run(self.argv("apply", str(path)), env=self.env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True)
