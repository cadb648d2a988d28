"""heat-agents 13.0.0's own tests, run against stoker's hooks, dispatcher and notifier.

The sdist is downloaded at test time (tests/conformance/upstream.py says how
and why); every upstream test runs except those listed, with a reason, in
tests/conformance/not-applicable.txt. The tier passes when none fails and
the list names only tests upstream has.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.conformance import upstream
from tests.conformance.conftest import RESULT_LINES

pytestmark = pytest.mark.conformance

BINDIR = Path(sys.executable).parent
OAC_VENV = Path(os.environ.get("OAC_VENV", upstream.REPO / ".oac-venv"))


def upstream_env(tmp_path: Path) -> dict[str, str]:
    """Upstream's tests inherit this environment: stoker's commands (and os-apply-config, which
    upstream's apply-config test runs for real) first on PATH, stoker's state in the scratch dir."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BINDIR), str(OAC_VENV / "bin"), env.get("PATH", "")])
    env["STOKER_STATE_DIR"] = str(tmp_path / "stoker-state")
    env.pop("PYTHONPATH", None)
    return env


def run_pytest(tree: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """pytest on upstream's tree with no configuration of ours (its rootdir is the tree)."""
    ini = tree.parent / "empty-pytest.ini"
    ini.write_text("[pytest]\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", str(tree),
                           "-p", "no:cacheprovider", *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=900)


def collected_ids(tree: Path, env: dict[str, str]) -> list[str]:
    proc = run_pytest(tree, env, "--collect-only", "-q", "tests")
    assert proc.returncode == 0, f"upstream's tests do not even collect:\n{proc.stdout}\n{proc.stderr}"
    return [line.strip() for line in proc.stdout.splitlines() if "::" in line]


def listed_ids(entries: list[upstream.NotApplicable], ids: list[str]) -> set[str]:
    """The upstream tests the list takes out; a line matching none is a stale list."""
    covered: set[str] = set()
    for entry in entries:
        matched = {i for i in ids if i == entry.target or (entry.whole_file and i.startswith(entry.target + "::"))}
        assert matched, f"{upstream.LIST_FILE.name} lists {entry.target}, which heat-agents {upstream.VERSION} does not have"
        covered |= matched
    return covered


def outcomes(junit: Path) -> dict[str, list[str]]:
    """Test ids by outcome (passed, failed, skipped) from pytest's JUnit XML."""
    result: dict[str, list[str]] = {"passed": [], "failed": [], "skipped": []}
    for case in ElementTree.parse(junit).iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            result["failed"].append(name)
        elif case.find("skipped") is not None:
            result["skipped"].append(name)
        else:
            result["passed"].append(name)
    return result


def test_heat_agents_own_tests_pass_against_stokers_hooks_dispatcher_and_notifier(tmp_path):
    # Upstream's apply-config test runs the real os-apply-config, found on PATH.
    assert (OAC_VENV / "bin" / "os-apply-config").exists(), \
        f"os-apply-config is not installed in {OAC_VENV}: run tests/setup.d/35-hook-tools"
    tree = upstream.prepare(tmp_path, BINDIR)
    env = upstream_env(tmp_path)
    entries = upstream.not_applicable()
    listed = listed_ids(entries, collected_ids(tree, env))
    junit = tmp_path / "upstream.xml"
    proc = run_pytest(tree, env, "-q", "-rfEs", f"--junitxml={junit}", *upstream.pytest_args(entries), "tests")
    got = outcomes(junit)
    line = (f"heat-agents {upstream.VERSION} conformance: {len(got['passed'])} passed, {len(listed)} listed "
            f"(tests/conformance/not-applicable.txt), {len(got['failed'])} failed")
    RESULT_LINES.append(line)
    print(line)
    assert not got["failed"] and proc.returncode == 0, (
        f"{line}\nupstream tests failing against stoker: {', '.join(got['failed'])}\n{proc.stdout[-20000:]}")
    assert not got["skipped"], f"upstream tests skipped instead of run or listed: {got['skipped']}"
    assert got["passed"], "no upstream test ran"
