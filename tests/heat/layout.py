"""Where the harness keeps things and which ports it uses.

Everything the harness writes lives under one directory (default `<repo>/.heat-harness`,
or `$STOKER_HEAT_HARNESS`), so two checkouts, or two copies in one checkout, never share
state. Ports are derived from one base port so that a second copy can move all of them at
once (`$STOKER_HEAT_BASE_PORT`); the default base keeps the usual OpenStack ports.
The venvs may live elsewhere (`$STOKER_HEAT_VENVS`) so that copies share one install.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 0  # 0 means "the usual ports"
USUAL_PORTS = {
    "keystone": 5000, "heat_api": 8004, "heat_cfn": 8000, "swift_proxy": 8080,
    "swift_object": 6200, "swift_container": 6201, "swift_account": 6202,
    "compute": 8774, "zaqar": 8888,
}
PORT_OFFSETS = {
    "keystone": 0, "heat_api": 1, "heat_cfn": 2, "swift_proxy": 3,
    "swift_object": 4, "swift_container": 5, "swift_account": 6,
    "compute": 7, "zaqar": 8,
}
PORT_COUNT = len(PORT_OFFSETS)  # a copy with base port B uses B .. B + PORT_COUNT - 1
ADMIN_PASSWORD = "admin-pass"
SERVICE_PASSWORD = "service-pass"
DEMO_PASSWORD = "demo-pass"
# Heat needs exactly 32 characters, or its start-up config check fails.
AUTH_ENCRYPTION_KEY = "stoker-harness-0123456789abcdef!"


@dataclass(frozen=True)
class Layout:
    """The harness directory and the ports of one harness copy."""

    root: Path
    base_port: int = DEFAULT_BASE_PORT
    venvs: Path | None = None  # None: inside root

    @classmethod
    def from_env(cls, root: str | os.PathLike | None = None,
                 base_port: int | None = None) -> "Layout":
        """Build from explicit options, else the environment, else the defaults."""
        root = root or os.environ.get("STOKER_HEAT_HARNESS") or REPO / ".heat-harness"
        if base_port is None:
            base_port = int(os.environ.get("STOKER_HEAT_BASE_PORT", DEFAULT_BASE_PORT))
        venvs = os.environ.get("STOKER_HEAT_VENVS")
        return cls(Path(root).resolve(), base_port, Path(venvs).resolve() if venvs else None)

    def port(self, name: str) -> int:
        """The TCP port of one service."""
        if not self.base_port:
            return USUAL_PORTS[name]
        return self.base_port + PORT_OFFSETS[name]

    def url(self, name: str) -> str:
        """http://127.0.0.1:PORT of one service."""
        return f"http://{HOST}:{self.port(name)}"

    @property
    def keystone_url(self) -> str:
        return self.url("keystone") + "/v3"

    @property
    def heat_venv(self) -> Path:
        return (self.venvs or self.root) / "venv-heat"

    @property
    def swift_venv(self) -> Path:
        return (self.venvs or self.root) / "venv-swift"

    @property
    def zaqar_venv(self) -> Path:
        return (self.venvs or self.root) / "venv-zaqar"

    @property
    def cli_venv(self) -> Path:
        return (self.venvs or self.root) / "venv-cli"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def redis_socket(self) -> Path:
        """Redis listens on this Unix socket only (no TCP port to collide with a system Redis)."""
        return self.run / "redis.sock"

    def pidfile(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def logfile(self, service: str) -> Path:
        return self.logs / f"{service}.log"
