"""The upstream chain as the baseline: installed from PyPI at run time, wired like heat-agents' element.

Nothing of upstream's code lives in this repository. ``UpstreamInstall.create``
builds a throw-away virtual environment with os-collect-config,
os-refresh-config and os-apply-config (and the clients the ``heat-config``
element's source install adds), downloads the heat-agents source distribution
and takes from it the ``heat-config`` element's files (``55-heat-config``,
``20-os-apply-config``, ``heat-config-notify``, the os-apply-config templates)
and the script hook (``hook-script.py``).

``UpstreamAgent`` lays one server's worth of that chain out under a temporary
root, the way the element installs it under ``/``:

    ROOT/etc/os-collect-config.conf                 rendered by os-apply-config
    ROOT/libexec/os-refresh-config/configure.d/     20-os-apply-config, 55-heat-config
    ROOT/libexec/os-apply-config/templates/         the element's templates
    ROOT/libexec/heat-config/hooks/script           hook-script.py
    ROOT/bin/heat-config-notify
    ROOT/var/lib/heat-config/deployed/, ROOT/var/run/heat-config/heat-config, ...

and runs ``os-collect-config`` with ``os-refresh-config`` as its command.
The only departures from upstream's defaults are the ones that keep every
file under ROOT (``--config-file``, ``--cachedir``, ``--backup-cachedir``, the
lock file, ``os-apply-config --templates/--output``, ``OS_REFRESH_CONFIG_BASE_DIR``,
``HEAT_CONFIG_HOOKS``, ``HEAT_SHELL_CONFIG``, ``HEAT_CONFIG_DEPLOYED``,
``HEAT_SCRIPT_WORKING``, ``HEAT_SCRIPT_OUTPUTS``); where to poll and how often
come from the metadata's ``os-collect-config`` key, as Heat writes it.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

VERSION = "14.1.0"
HEAT_AGENTS_VERSION = "13.0.0"
PACKAGES = (f"os-collect-config=={VERSION}", f"os-refresh-config=={VERSION}",
            f"os-apply-config=={VERSION}",
            # what heat-config's source install (install.d/50-heat-config-soure) adds with pip
            "python-heatclient", "python-zaqarclient", "python-keystoneclient")
ELEMENT_FILES = {
    "heat-config/os-refresh-config/configure.d/20-os-apply-config": "configure.d/20-os-apply-config",
    "heat-config/os-refresh-config/configure.d/55-heat-config": "configure.d/55-heat-config",
    "heat-config/bin/heat-config-notify": "bin/heat-config-notify",
    "heat-config-script/install.d/hook-script.py": "hooks/script",
}
TEMPLATES_PREFIX = "heat-config/os-apply-config/"


class InstallError(RuntimeError):
    """The baseline could not be installed (no registry, a failed build, a changed sdist)."""


@dataclass
class UpstreamInstall:
    """A virtual environment with the upstream tools, and the heat-config element's files."""

    venv: Path
    element: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @classmethod
    def create(cls, where: Path, say: Callable[[str], None] = print) -> "UpstreamInstall":
        venv, element, download = where / "venv", where / "element", where / "download"
        started = time.monotonic()
        say(f"installing the upstream chain into a temporary venv ({', '.join(PACKAGES[:3])}) ...")
        _run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
        _run(pip + ["install", *PACKAGES])
        say(f"fetching the heat-agents {HEAT_AGENTS_VERSION} source distribution ...")
        _run(pip + ["download", "--no-deps", "--no-binary", ":all:", "-d", str(download),
                    f"heat-agents=={HEAT_AGENTS_VERSION}"])
        sdists = sorted(download.glob("heat[-_]agents-*.tar.gz"))
        if not sdists:
            raise InstallError(f"pip download left no heat-agents sdist in {download}")
        _extract_element(sdists[0], element)
        shutil.rmtree(download, ignore_errors=True)
        say(f"upstream chain ready in {time.monotonic() - started:.0f}s")
        return cls(venv, element)

    @classmethod
    def existing(cls, where: Path) -> "UpstreamInstall":
        """Re-use what ``create`` left in ``where`` (``--upstream-dir``, to save time while iterating)."""
        install = cls(where / "venv", where / "element")
        if not (install.bin / "os-collect-config").exists() or not (install.element / "bin").is_dir():
            raise InstallError(f"{where} holds no upstream install")
        return install

    def versions(self) -> dict[str, str]:
        out = _run([str(self.bin / "python"), "-m", "pip", "--disable-pip-version-check", "list",
                    "--format", "json"], capture=True)
        wanted = {"os-collect-config", "os-refresh-config", "os-apply-config", "python-heatclient",
                  "python-keystoneclient", "python-zaqarclient", "requests"}
        found = {p["name"].lower(): p["version"] for p in json.loads(out)}
        versions = {name: found[name] for name in sorted(wanted) if name in found}
        versions["heat-agents"] = HEAT_AGENTS_VERSION
        return versions


def _run(argv: list[str], capture: bool = False) -> str:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise InstallError(f"{shlex.join(argv[:6])} ... failed ({proc.returncode}):\n{tail}")
    return proc.stdout if capture else ""


def _extract_element(sdist: Path, element: Path) -> None:
    """Copy the element files we need out of the sdist (a plain, read-only walk of the tarball)."""
    element.mkdir(parents=True, exist_ok=True)
    found: set[str] = set()
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            parts = member.name.split("/", 1)
            if len(parts) != 2:
                continue
            inner = parts[1]
            if inner in ELEMENT_FILES:
                target = element / ELEMENT_FILES[inner]
            elif inner.startswith(TEMPLATES_PREFIX):
                target = element / "templates" / inner[len(TEMPLATES_PREFIX):]
            else:
                continue
            if ".." in Path(inner).parts:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            target.chmod(0o755 if not inner.startswith(TEMPLATES_PREFIX) else 0o644)
            found.add(inner)
    missing = set(ELEMENT_FILES) - found
    if missing or not (element / "templates").is_dir():
        raise InstallError(f"{sdist.name} lacks {', '.join(sorted(missing)) or 'the templates'}")


class DaemonSide:
    """What both systems' drivers share: the daemon in its own session, logging to a file.

    A subclass has ``log``, ``root``, ``deployed``, ``process``, ``env()`` and ``daemon_argv()``.
    """

    process: subprocess.Popen | None

    def start(self) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.daemon_argv(), env=self.env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                            start_new_session=True)
        return self.process

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def deployed_ids(self) -> set[str]:
        """Ids whose signal payload was written (``deployed/<id>.notify.json``)."""
        return {p.name[:-len(".notify.json")] for p in self.deployed.glob("*.notify.json")}


class UpstreamAgent(DaemonSide):
    """One server's upstream chain under ``root``: os-collect-config -> os-refresh-config -> ..."""

    name = "upstream"

    def __init__(self, install: UpstreamInstall, root: Path, collect_settings: Mapping,
                 ca_file: Path | None = None) -> None:
        self.install = install
        self.ca_file = ca_file  # HTTPS: the private CA to trust (REQUESTS_CA_BUNDLE, as requests reads it)
        self.root = root
        self.collect_settings = dict(collect_settings)
        self.conf = root / "etc" / "os-collect-config.conf"
        self.orc_base = root / "libexec" / "os-refresh-config"
        self.templates = root / "libexec" / "os-apply-config" / "templates"
        self.hooks = root / "libexec" / "heat-config" / "hooks"
        self.bindir = root / "bin"
        self.deployed = root / "var" / "lib" / "heat-config" / "deployed"
        self.shell_config = root / "var" / "run" / "heat-config" / "heat-config"
        self.cachedir = root / "var" / "lib" / "os-collect-config"
        self.backup_cachedir = root / "var" / "run" / "os-collect-config"
        self.lockfile = root / "var" / "run" / "os-refresh-config.lock"
        self.log = root / "agent.log"
        self.process: subprocess.Popen | None = None

    # -------------------------------------------------------------- layout

    def prepare(self) -> None:
        element = self.install.element
        for directory in (self.orc_base / "configure.d", self.hooks, self.bindir, self.deployed.parent,
                          self.shell_config.parent, self.cachedir.parent, self.conf.parent):
            directory.mkdir(parents=True, exist_ok=True)
        shutil.copytree(element / "templates", self.templates, dirs_exist_ok=True)
        # 20-os-apply-config is "exec os-apply-config": point it at our templates and output root
        oac = (element / "configure.d" / "20-os-apply-config").read_text()
        if "exec os-apply-config" not in oac:
            raise InstallError("20-os-apply-config no longer runs 'exec os-apply-config'")
        oac = oac.replace("exec os-apply-config", "exec os-apply-config --templates "
                          f"{shlex.quote(str(self.templates))} --output {shlex.quote(str(self.root))}")
        self._write(self.orc_base / "configure.d" / "20-os-apply-config", oac)
        shutil.copy2(element / "configure.d" / "55-heat-config", self.orc_base / "configure.d")
        shutil.copy2(element / "hooks" / "script", self.hooks / "script")
        shutil.copy2(element / "bin" / "heat-config-notify", self.bindir / "heat-config-notify")
        self.render_config()

    def render_config(self) -> None:
        """Render os-collect-config.conf from the os-collect-config key, as a first boot would.

        Done once before the agent starts so that the file it is started with is
        the file os-apply-config writes later (no re-exec on the first change).
        """
        seed = self.root / "seed-metadata.json"
        seed.write_text(json.dumps({"os-collect-config": self.collect_settings}))
        _run([str(self.install.bin / "os-apply-config"), "--templates", str(self.templates),
              "--output", str(self.root), "--metadata", str(seed)])
        seed.unlink()
        # the rendered heat-config is empty (no deployments yet); os-apply-config deletes empty files
        if not self.conf.is_file():
            raise InstallError(f"os-apply-config did not render {self.conf}")

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o755)

    # -------------------------------------------------------------- process

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update({
            "PATH": os.pathsep.join([str(self.bindir), str(self.install.bin), env.get("PATH", "/usr/bin:/bin")]),
            "VIRTUAL_ENV": str(self.install.venv),
            "OS_REFRESH_CONFIG_BASE_DIR": str(self.orc_base),
            "OS_CONFIG_FILES_PATH": str(self.cachedir / "os_config_files.json"),
            "HEAT_CONFIG_HOOKS": str(self.hooks),
            "HEAT_SHELL_CONFIG": str(self.shell_config),
            "HEAT_CONFIG_DEPLOYED": str(self.deployed),
            "HEAT_CONFIG_DEPLOYED_OLD": str(self.root / "var" / "run" / "heat-config" / "deployed"),
            "HEAT_SCRIPT_WORKING": str(self.root / "var" / "lib" / "heat-config" / "heat-config-script"),
            "HEAT_SCRIPT_OUTPUTS": str(self.root / "var" / "run" / "heat-config" / "heat-config-script"),
        })
        if self.ca_file:
            env["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        return env

    def argv(self) -> list[str]:
        command = f"os-refresh-config --lockfile {shlex.quote(str(self.lockfile))}"
        return [str(self.install.bin / "os-collect-config"), "--config-file", str(self.conf),
                "--cachedir", str(self.cachedir), "--backup-cachedir", str(self.backup_cachedir),
                "--command", command]

    def daemon_argv(self) -> list[str]:
        return self.argv()

    def mark_finished(self, items: list[dict]) -> None:
        """Make ``items`` look deployed, the way upstream records it (``<deployed>/<id>.json``)."""
        self.deployed.mkdir(parents=True, exist_ok=True)
        for item in items:
            (self.deployed / f"{item['id']}.json").write_text(json.dumps(item))
            (self.deployed / f"{item['id']}.notify.json").write_text(
                json.dumps({"deploy_status_code": 0, "deploy_stdout": "", "deploy_stderr": ""}))


def stop_process(process: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if process is None or process.poll() is not None:
        return
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
