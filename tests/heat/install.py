"""Install Heat+Keystone, Swift and Zaqar into three venvs under the harness directory.

One venv per service because each pins its own library set; Swift needs
keystonemiddleware beside it for its authtoken filter, Zaqar the redis client for its
Redis stores and gunicorn to serve its WSGI app (Redis itself is Debian's
redis-server, see tests/setup.d/15-redis). A marker file records the exact requirement
list, so a second run with the same list does nothing (idempotent, cheap in CI) and a
changed list reinstalls.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .layout import Layout

# gunicorn pinned: the harness relies on its --no-control-socket option.
HEAT_REQUIREMENTS = ("openstack-heat==27.0.1", "keystone==30.0.0", "gunicorn==27.0.1")
SWIFT_REQUIREMENTS = ("swift", "keystonemiddleware")
ZAQAR_REQUIREMENTS = ("zaqar==23.0.1", "redis", "gunicorn==27.0.1")
# Only for people trying templates by hand (`openstack stack create ...`); the tests
# never need it, so it is a separate venv that cannot disturb Heat's pins.
CLI_REQUIREMENTS = ("python-openstackclient", "python-heatclient")
MARKER = ".stoker-harness-installed"


def venv_ready(venv: Path, requirements: tuple[str, ...]) -> bool:
    """True when the venv was completed with exactly these requirements."""
    marker = venv / MARKER
    return marker.is_file() and marker.read_text() == "\n".join(requirements) + "\n"


def build_venv(venv: Path, requirements: tuple[str, ...], log) -> float:
    """Create (or complete) one venv; return the seconds it took (0 when reused)."""
    if venv_ready(venv, requirements):
        return 0.0
    start = time.monotonic()
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["install", *requirements], check=True, stdout=log, stderr=log)
    (venv / MARKER).write_text("\n".join(requirements) + "\n")
    return time.monotonic() - start


def install(layout: Layout, cli: bool = False) -> dict[str, float]:
    """Install the service venvs (and the CLI one if asked); return the time each took."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    times = {}
    with open(layout.logfile("install"), "a") as log:
        times["heat"] = build_venv(layout.heat_venv, HEAT_REQUIREMENTS, log)
        times["swift"] = build_venv(layout.swift_venv, SWIFT_REQUIREMENTS, log)
        times["zaqar"] = build_venv(layout.zaqar_venv, ZAQAR_REQUIREMENTS, log)
        if cli:
            times["cli"] = build_venv(layout.cli_venv, CLI_REQUIREMENTS, log)
    return times
