"""Run a hook the way the agent does: a real process, the item on stdin, one JSON object back.

Shared by the ``tests/test_hook_*.py`` contract tests and ``tests/test_hookkit.py``.
Every run also checks the contract itself: the hook exits 0 and its stdout is
exactly one JSON object with the three ``deploy_*`` keys, whatever happened.
The environment helpers point a hook at its working directories and at
``fakes/recorder`` in place of its tool; ``crash_line`` and
``assert_fails_saying`` read a failed answer.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "hooks"
FAKES = Path(__file__).resolve().parent
SIGNAL_URL = ("http://127.0.0.1:8000/v1/signal/arn%3Aopenstack%3Aheat%3A%3A?Timestamp=2024-01-01T00%3A00%3A00Z"
              "&SignatureMethod=HmacSHA256&AWSAccessKeyId=abc&SignatureVersion=2&Signature=c2VjcmV0")


def make_item(group: str, config: Any, inputs: Mapping[str, Any] | None = None, *,
              options: Mapping[str, Any] | None = None, outputs: list[str] | None = None,
              action: str = "CREATE", ident: str = "0c2b7a3e-5f4e-4a4b-9d7e-1f0a2b3c4d5e",
              name: str = "20_configure") -> dict[str, Any]:
    """A deployment item as Heat sends it, with Heat's own inputs (credentials included) appended."""
    heat_inputs = {"deploy_server_id": "6f1d0e2a", "deploy_action": action,
                   "deploy_stack_id": "stack/3b1c", "deploy_resource_name": "deployment",
                   "deploy_signal_transport": "CFN_SIGNAL", "deploy_signal_id": SIGNAL_URL,
                   "deploy_signal_verb": "POST", "deploy_password": "heat-s3cret"}
    all_inputs = {**(inputs or {}), **heat_inputs}
    return {"id": ident, "name": name, "group": group, "config": config,
            "creation_time": "2024-01-01T00:00:00Z", "options": dict(options or {}),
            "inputs": [{"name": k, "value": v, "type": "String"} for k, v in all_inputs.items()],
            "outputs": [{"name": n, "error_output": False} for n in outputs or []]}


def hook_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The test's environment with this venv's python first on PATH (so jinja2 imports)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(overrides)
    return env


def run_hook_raw(name: str, stdin: bytes, env: Mapping[str, str] | None = None,
                 interpreter: list[str] | None = None, timeout: float = 300) -> tuple[Any, str]:
    """Run ``hooks/<name>`` with raw bytes on stdin; return its JSON answer and its own stderr.

    The hook must exit 0 whatever it was given: failures travel in the answer.
    """
    argv = [*(interpreter or []), str(HOOKS / name)]
    proc = subprocess.run(argv, input=stdin, capture_output=True, env=hook_env(env or {}), timeout=timeout)
    own_stderr = proc.stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 0, own_stderr
    return json.loads(proc.stdout), own_stderr  # exactly one JSON document, nothing else on stdout


def run_hook(name: str, item: Mapping[str, Any], env: Mapping[str, str],
             interpreter: list[str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """Run ``hooks/<name>`` with ``item`` on stdin; return its payload after checking the contract."""
    payload, _ = run_hook_raw(name, json.dumps(item).encode(), env, interpreter, timeout)
    assert isinstance(payload, dict), payload
    assert {"deploy_stdout", "deploy_stderr", "deploy_status_code"} <= set(payload), payload
    return payload


def working_env(prefix: str, working: Path, outputs: Path) -> dict[str, str]:
    """``<prefix>_WORKING`` and ``<prefix>_OUTPUTS``: where a hook keeps its files and outputs."""
    return {f"{prefix}_WORKING": str(working), f"{prefix}_OUTPUTS": str(outputs)}


def recorder_env(prefix: str, record: Path, exit_code: int = 0) -> dict[str, str]:
    """Make a hook run ``fakes/recorder`` as its tool (``<prefix>_CMD``), recording into ``record``."""
    return {f"{prefix}_CMD": str(FAKES / "recorder"), "FAKE_RECORD": str(record), "FAKE_EXIT": str(exit_code)}


def run_recorded(name: str, item: Mapping[str, Any], env: Mapping[str, str],
                 record: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a hook whose tool is a recorder; return its payload and what the recorder wrote."""
    return run_hook(name, item, env), read_record(record)


def crash_line(payload: Mapping[str, Any]) -> str:
    """The one ``stoker:`` line of a failed payload, after checking there is no traceback."""
    stderr = payload["deploy_stderr"]
    assert payload["deploy_status_code"] != 0, payload
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("stoker:")]
    assert len(lines) == 1, stderr
    assert stderr.endswith(lines[0] + "\n"), "the reason is the last line, where Heat users look"
    return lines[0]


def assert_fails_saying(payload: Mapping[str, Any], words: str, code: int = 1) -> None:
    """The hook answered a failure with status ``code`` and ``words`` in its ``deploy_stderr``."""
    assert payload["deploy_status_code"] == code, payload
    assert words in payload["deploy_stderr"], payload


def read_record(path: Path) -> dict[str, Any]:
    """What a fake tool recorded about its call."""
    return json.loads(path.read_text())


def mode_of(path: Path) -> int:
    """Permission bits of a file or directory."""
    return path.stat().st_mode & 0o7777
