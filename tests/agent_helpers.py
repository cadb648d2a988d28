"""Helpers for tests that run ``stoker`` and its hooks as real processes.

Everything lives under one temporary directory: the state dir (``--state-dir``),
``HEAT_CONFIG_DEPLOYED``, the script hook's working and outputs dirs
(``HEAT_SCRIPT_WORKING``/``HEAT_SCRIPT_OUTPUTS``), a directory for test-only
hooks (first on ``HEAT_CONFIG_HOOKS``) and, when a test sets options, a config
file named by ``STOKER_CONFIG``. Typical use::

    agent = Agent(tmp_path)
    result = agent.apply([script_item("d1", "#!/bin/sh\\necho hi\\n")])
    assert result.returncode == 0
    assert agent.notify("d1")["deploy_stdout"] == "hi\\n"
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
HOOKS = REPO / "hooks"


def stoker_command() -> list[str]:
    """The installed console script when the venv has it, else ``python -m stoker``."""
    script = VENV_BIN / "stoker"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "stoker"]


# ------------------------------------------------------------------ items

def heat_inputs(action: str = "CREATE", transport: str = "NO_SIGNAL", resource: str = "deployment",
                **extra: Any) -> list[dict[str, Any]]:
    """The inputs Heat appends to every item (docs/protocol.md, "Deployments"), plus ``extra`` as more inputs.

    ``resource`` is the deployment resource's name in the template: each item of
    a test stands for its own resource unless it says otherwise.
    """
    inputs = [{"name": name, "value": value, "type": "String"} for name, value in extra.items()]
    inputs += [
        {"name": "deploy_server_id", "value": "9f2c7a10-0000-4000-8000-000000000001"},
        {"name": "deploy_action", "value": action},
        {"name": "deploy_stack_id", "value": "teststack/5b1d0000-0000-4000-8000-000000000002"},
        {"name": "deploy_resource_name", "value": resource},
        {"name": "deploy_signal_transport", "value": transport},
    ]
    return inputs


def item(ident: str, config: Any = "", *, group: str = "script", name: str | None = None,
         action: str = "CREATE", inputs: Sequence[Mapping[str, Any]] = (),
         outputs: Sequence[Mapping[str, Any]] | None = None, options: Mapping[str, Any] | None = None,
         transport: str = "NO_SIGNAL", **extra: Any) -> dict[str, Any]:
    """One deployment item as Heat sends it; ``inputs`` are the template's own, before Heat's."""
    name = name if name is not None else f"deployment-{ident}"
    value = {
        "id": ident,
        "name": name,
        "group": group,
        "creation_time": "2024-01-01T00:00:00Z",
        "config": config,
        "options": dict(options) if options is not None else None,
        "inputs": [dict(i) for i in inputs] + heat_inputs(action, transport, resource=name or ident),
        "outputs": [dict(o) for o in outputs] if outputs is not None else None,
    }
    value.update(extra)
    return value


def script_item(ident: str, script: str, **kwargs: Any) -> dict[str, Any]:
    """A ``group: script`` item running ``script``."""
    return item(ident, script, group="script", **kwargs)


def component_item(ident: str, configs: Any, action: str = "CREATE", **kwargs: Any) -> dict[str, Any]:
    """A ``group: component`` item (OS::Heat::SoftwareComponent) with ``configs`` entries."""
    return item(ident, {"configs": configs}, group="component", action=action, **kwargs)


def doc_item(ident, group="script", action="CREATE", config="", **extra):
    """A bare item with only what parsing and planning look at (no Heat inputs but the action)."""
    return {"id": ident, "name": ident, "group": group, "config": config,
            "inputs": [{"name": "deploy_action", "value": action}], **extra}


def document(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A whole metadata document holding ``items``."""
    return {"os-collect-config": {"collectors": ["local"]}, "deployments": list(items),
            "user_key": {"kept": "and ignored"}}


# ------------------------------------------------------------------ the agent

class Agent:
    """One agent's world in a temporary directory, and ways to run ``stoker`` in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.deployed = root / "deployed"
        self.working = root / "script-working"
        self.outputs = root / "script-outputs"
        self.hooks = root / "hooks"
        self.hooks.mkdir(parents=True, exist_ok=True)
        self.config_file: Path | None = None
        self.extra_env: dict[str, str] = {}

    # -- set-up

    def configure(self, **settings: Any) -> Path:
        """Write a config file with these ``[DEFAULT]`` keys and point ``STOKER_CONFIG`` at it."""
        self.config_file = self.root / "stoker.conf"
        lines = ["[DEFAULT]"] + [f"{key} = {value}" for key, value in settings.items()]
        self.config_file.write_text("\n".join(lines) + "\n")
        return self.config_file

    def write_hook(self, name: str, text: str, mode: int = 0o755) -> Path:
        """A test-only hook in the first directory of ``HEAT_CONFIG_HOOKS``."""
        path = self.hooks / name
        path.write_text(text)
        path.chmod(mode)
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("HEAT_", "STOKER_")):
                del env[name]
        env.update({
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "HEAT_CONFIG_DEPLOYED": str(self.deployed),
            "HEAT_SCRIPT_WORKING": str(self.working),
            "HEAT_SCRIPT_OUTPUTS": str(self.outputs),
            "HEAT_CONFIG_HOOKS": str(self.hooks),
            "LC_ALL": "C.UTF-8",
        })
        # No config file unless the test wrote one: never read the machine's /etc/stoker/stoker.conf.
        env["STOKER_CONFIG"] = str(self.config_file or self._empty_config())
        env.update(self.extra_env)
        return env

    def _empty_config(self) -> Path:
        path = self.root / "empty.conf"
        if not path.exists():
            path.write_text("[DEFAULT]\n")
        return path

    # -- running stoker

    def argv(self, *args: str) -> list[str]:
        return stoker_command() + ["--state-dir", str(self.state), *args]

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``stoker --state-dir STATE ARGS`` and wait for it; text output."""
        result = subprocess.run(self.argv(*args), input=stdin, env=self.env(), capture_output=True,
                                timeout=timeout, cwd=self.root)
        return subprocess.CompletedProcess(result.args, result.returncode,
                                           result.stdout.decode("utf-8", errors="replace"),
                                           result.stderr.decode("utf-8", errors="replace"))

    def write_document(self, value: Any, name: str = "metadata.json") -> Path:
        path = self.root / name
        path.write_text(value if isinstance(value, str) else json.dumps(value))
        return path

    def apply(self, items_or_document: Any, *args: str, timeout: float = 60,
              bare: bool = False) -> subprocess.CompletedProcess:
        """``stoker apply`` a list of items (wrapped in a whole document unless ``bare``) or any JSON value."""
        value = items_or_document
        if isinstance(value, list) and not bare:
            value = document(value)
        return self.run("apply", str(self.write_document(value)), *args, timeout=timeout)

    def start_apply(self, items: list[dict[str, Any]]) -> subprocess.Popen:
        """Start ``stoker apply`` without waiting (for crash tests)."""
        path = self.write_document(document(items))
        return subprocess.Popen(self.argv("apply", str(path)), env=self.env(), cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def status(self) -> tuple[int, dict[str, Any], str]:
        """``stoker status --json``: exit code, parsed output, raw output."""
        result = self.run("status", "--json")
        return result.returncode, json.loads(result.stdout), result.stdout

    def rerun(self, ident: str) -> subprocess.CompletedProcess:
        return self.run("rerun", ident)

    # -- reading results

    def notify(self, key: str) -> dict[str, Any]:
        """The payload recorded (and signalled) for a deployment: ``deployed/<key>.notify.json``."""
        return json.loads((self.deployed / f"{key}.notify.json").read_text())

    def record(self, key: str) -> dict[str, Any]:
        """The journal's record of a deployment: ``<state>/journal/<key>.json``."""
        return json.loads((self.state / "journal" / f"{key}.json").read_text())

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.state / "journal").glob("*.json"))]


# ------------------------------------------------------------------ processes

def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true, or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (as the journal records it), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().decode(errors="replace").rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return None


def kill_quietly(pid: int, started: str | None = None) -> None:
    """Clean-up: SIGKILL a hook's process group that a test started.

    With ``started`` (the start time the journal recorded), nothing is done when
    the pid now names another process, so clean-up never hits a stranger.
    """
    current = start_time(pid)
    if started is not None and current is not None and current != started:
        return
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
