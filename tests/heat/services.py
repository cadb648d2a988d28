"""Start, stop and check the harness's services, each by the PID in its pidfile.

Each service runs in its own session (process group) so that stopping it also stops its
children (gunicorn's worker) and nothing else. "Started" means "answers HTTP", not "has a
PID": a service that dies or never answers is reported with the tail of its log.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .layout import Layout

RUNTIME = Path(__file__).resolve().parent / "runtime"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class ServiceError(RuntimeError):
    """A service failed to start; the message carries its log tail."""


@dataclass
class Service:
    """How to run one service and how to tell that it answers."""

    name: str
    argv: list[str]
    ports: list[int]
    env: dict[str, str] = field(default_factory=dict)
    sockets: list[Path] = field(default_factory=list)  # Unix sockets that must answer too
    needs: list[str] = field(default_factory=list)  # services that must answer before it starts


def redis_server() -> str | None:
    """Debian's redis-server (tests/setup.d/15-redis), or None when it is not installed."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
        None)


def zaqar_enabled(lay: Layout) -> bool:
    """Zaqar runs when its venv and Redis are installed; without them the rest still works."""
    return redis_server() is not None and (lay.zaqar_venv / "bin" / "gunicorn").exists()


def gunicorn(venv_bin: Path, port: int, app: str) -> list[str]:
    """One gunicorn worker with threads, serving a WSGI app from runtime/ on loopback.

    Idle keep-alive connections are kept for 5 minutes, not gunicorn's 2 seconds: Heat's
    clients keep theirs pooled with no idle limit, and a request sent on a connection
    at the moment the server closes it fails with "connection reset" (a fleet of 50
    ran into it during an update, and Heat answered that signal with a 500).
    """
    return [str(venv_bin / "gunicorn"), "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", "8",
            "--keep-alive", "300",
            "--timeout", "120", "--no-control-socket", "--access-logfile", "-",
            "--chdir", str(RUNTIME), app]


def services(lay: Layout) -> list[Service]:
    """The services in start order (Keystone first: everything authenticates there)."""
    hv, sv, zv = lay.heat_venv / "bin", lay.swift_venv / "bin", lay.zaqar_venv / "bin"
    swift = lay.etc / "swift"
    out = [Service("keystone", gunicorn(hv, lay.port("keystone"), "keystone_app:application"),
        [lay.port("keystone")],
        {"OS_KEYSTONE_CONFIG_FILES": str(lay.etc / "keystone" / "keystone.conf")})]
    for kind in ("account", "container", "object"):
        out.append(Service(f"swift-{kind}", [
            str(sv / f"swift-{kind}-server"), str(swift / f"{kind}-server.conf"), "-v"],
            [lay.port(f"swift_{kind}")]))
    out.append(Service("swift-proxy", [
        str(sv / "swift-proxy-server"), str(swift / "proxy-server.conf"), "-v"],
        [lay.port("swift_proxy")]))
    out.append(Service("heat", [
        str(hv / "python"), str(RUNTIME / "heat_all.py"), str(lay.etc / "heat" / "heat.conf")],
        [lay.port("heat_api"), lay.port("heat_cfn")],
        {"HEAT_API_PORT": str(lay.port("heat_api")),
         "HEAT_CFN_PORT": str(lay.port("heat_cfn"))}))
    out.append(Service("compute", [
        str(hv / "python"), str(RUNTIME / "compute_api.py"),
        str(lay.etc / "compute" / "compute.conf")], [lay.port("compute")]))
    redis = redis_server()
    if redis and zaqar_enabled(lay):
        out.append(Service("redis", [redis, str(lay.etc / "redis" / "redis.conf")], [],
                           sockets=[lay.redis_socket]))
        out.append(Service("zaqar", gunicorn(zv, lay.port("zaqar"), "zaqar_app:application"),
                           [lay.port("zaqar")],
                           {"ZAQAR_CONFIG_FILE": str(lay.etc / "zaqar" / "zaqar.conf")},
                           needs=["redis"]))
    return out


def read_pid(lay: Layout, name: str) -> int | None:
    """The PID of a running service, or None (a stale pidfile is removed)."""
    path = lay.pidfile(name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        path.unlink(missing_ok=True)
        return None
    return pid


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def socket_open(path: Path) -> bool:
    """True when something accepts connections on the Unix socket at `path`."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1)
        return sock.connect_ex(str(path)) == 0


def answers(svc: Service) -> bool:
    """True when every port and socket of the service accepts connections."""
    return all(port_open(p) for p in svc.ports) and all(socket_open(s) for s in svc.sockets)


def log_tail(lay: Layout, name: str, lines: int = 40) -> str:
    """The last lines of a service's log, for error messages."""
    path = lay.logfile(name)
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text)


def spawn(lay: Layout, svc: Service) -> int:
    """Start one service detached, logging to its logfile; write and return its PID."""
    busy = [p for p in svc.ports if port_open(p)]
    if busy:
        raise ServiceError(f"{svc.name}: port(s) {busy} already in use on 127.0.0.1; "
                           "stop the other user or pick another STOKER_HEAT_BASE_PORT")
    lay.run.mkdir(parents=True, exist_ok=True)
    lay.logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **svc.env, "PYTHONUNBUFFERED": "1"}
    with open(lay.logfile(svc.name), "ab") as log, open(os.devnull, "rb") as null:
        proc = subprocess.Popen(svc.argv, stdin=null, stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=lay.root, start_new_session=True)
    lay.pidfile(svc.name).write_text(f"{proc.pid}\n")
    return proc.pid


def wait_ready(lay: Layout, svc: Service, timeout: float = START_TIMEOUT) -> None:
    """Wait until every port of the service answers; fail fast if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_pid(lay, svc.name) is None:
            raise ServiceError(f"{svc.name} exited during start\n{log_tail(lay, svc.name)}")
        if answers(svc):
            return
        time.sleep(0.2)
    raise ServiceError(f"{svc.name} did not answer on {svc.ports + svc.sockets} "
                       f"within {timeout:.0f}s\n"
                       f"{log_tail(lay, svc.name)}")


def start(lay: Layout, only: list[str] | None = None) -> list[str]:
    """Start the services not yet running, in order; return the names started."""
    every = {s.name: s for s in services(lay)}
    chosen = [s for s in every.values() if not only or s.name in only]
    started = []
    try:
        for svc in chosen:  # all at once, except a service that needs another to boot
            if read_pid(lay, svc.name) is None:
                for need in svc.needs:
                    wait_ready(lay, every[need])
                spawn(lay, svc)
                started.append(svc.name)
        for svc in chosen:
            wait_ready(lay, svc)
    except ServiceError:
        for name in reversed(started):  # leave nothing half-started behind
            stop_one(lay, name)
        raise
    return started


def stop_one(lay: Layout, name: str) -> bool:
    """Stop one service's process group (TERM, then KILL); True if it was running."""
    pid = read_pid(lay, name)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
    lay.pidfile(name).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _signal_group(pid: int, sig: int) -> None:
    """Signal the session the harness created for this service (only that one)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def stop(lay: Layout) -> list[str]:
    """Stop every service, in reverse start order; return the names stopped.

    Also any other service with a pidfile (one started while Redis was installed, say).
    """
    names = [s.name for s in reversed(services(lay))]
    if lay.run.is_dir():
        names += sorted(p.stem for p in lay.run.glob("*.pid") if p.stem not in names)
    return [name for name in names if stop_one(lay, name)]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (for the report)."""
    total = 0
    for child in [pid, *_descendants(pid)]:
        try:
            for line in open(f"/proc/{child}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _descendants(pid: int) -> list[int]:
    """All PIDs below `pid`, from /proc/*/stat parent links."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def status(lay: Layout) -> list[tuple[str, int | None, bool, float]]:
    """(name, pid, answering, RSS MB) for every service."""
    rows = []
    for svc in services(lay):
        pid = read_pid(lay, svc.name)
        up = pid is not None and answers(svc)
        rows.append((svc.name, pid, up, rss_mb(pid) if pid else 0.0))
    return rows
