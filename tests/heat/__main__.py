"""`python -m tests.heat {install,setup,start,stop,status,env}`: drive the harness.

Options (or the environment): --dir / STOKER_HEAT_HARNESS picks the harness directory,
--base-port / STOKER_HEAT_BASE_PORT moves every port (base, base+1, ... base+8) so a
second copy can run beside the first; STOKER_HEAT_VENVS shares the venvs of another
harness directory. `up` does install+setup+start; `down` is `stop`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import install, provision, services
from . import layout as L
from .layout import Layout


def cmd_install(lay: Layout, cli: bool = False) -> None:
    times = install.install(lay, cli)
    print(" ".join(f"{k}={v:.1f}s" for k, v in times.items()), "(0 = reused)")


def cmd_setup(lay: Layout) -> None:
    print(f"setup {provision.setup(lay):.1f}s (0 = already set up)")


def cmd_start(lay: Layout) -> None:
    if not provision.is_set_up(lay):
        sys.exit("not set up: run `setup` first (or `up`)")
    start = time.monotonic()
    started = services.start(lay)
    print(f"started {started or 'nothing (all running)'} in {time.monotonic() - start:.1f}s")
    if not services.zaqar_enabled(lay):
        print("zaqar: not started (needs Debian's redis-server, see tests/setup.d/15-redis, "
              "and `install`): ZAQAR_MESSAGE and ZAQAR_SIGNAL will not work")


def cmd_stop(lay: Layout) -> None:
    print("stopped", services.stop(lay) or "nothing")


def cmd_status(lay: Layout) -> None:
    rows = services.status(lay)
    for name, pid, up, rss in rows:
        print(f"{name:16} pid={pid or '-':<8} {'up' if up else 'DOWN':5} rss={rss:.0f}MB")
    print(f"total rss={sum(r[3] for r in rows):.0f}MB")
    if not all(r[2] for r in rows):
        sys.exit(1)


def cli_bin(lay: Layout) -> Path:
    """A directory holding only `openstack` (a link into the CLI venv), for PATH.

    Putting the venv's own bin/ on PATH would also put its python3 first, and the agent
    started in the same shell would run python hooks (jinja2, ...) with a python that
    lacks the server's libraries.
    """
    path = lay.root / "bin"
    path.mkdir(parents=True, exist_ok=True)
    link = path / "openstack"
    if not link.is_symlink():
        link.symlink_to(lay.cli_venv / "bin" / "openstack")
    return path


def env_lines(lay: Layout, user: str = "demo") -> list[str]:
    """Shell exports for the openstack CLI (or curl) as the demo or admin user."""
    password = L.ADMIN_PASSWORD if user == "admin" else L.DEMO_PASSWORD
    values = {"OS_AUTH_URL": lay.keystone_url, "OS_IDENTITY_API_VERSION": "3",
              "OS_USERNAME": user, "OS_PASSWORD": password, "OS_PROJECT_NAME": user,
              "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_DOMAIN_ID": "default",
              "OS_REGION_NAME": "RegionOne", "OS_AUTH_TYPE": "password",
              "STOKER_HEAT_HARNESS": str(lay.root),
              "STOKER_HEAT_BASE_PORT": str(lay.base_port)}
    if lay.cli_venv.is_dir():
        values["PATH"] = f"{cli_bin(lay)}:$PATH"
    if lay.venvs:
        values["STOKER_HEAT_VENVS"] = str(lay.venvs)
    return [f'export {k}="{v}"' for k, v in values.items()]  # double: PATH expands


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.heat", description=__doc__)
    parser.add_argument("command", choices=["install", "setup", "start", "stop", "status",
                                            "env", "up", "down"])
    parser.add_argument("--dir", help="harness directory (default <repo>/.heat-harness)")
    parser.add_argument("--base-port", type=int,
                        help=f"first of {L.PORT_COUNT} consecutive ports")
    parser.add_argument("--cli", action="store_true",
                        help="install: also a venv with the openstack CLI (venv-cli)")
    parser.add_argument("--user", default="demo", choices=["demo", "admin"],
                        help="whose credentials `env` prints")
    args = parser.parse_args(argv)
    lay = Layout.from_env(args.dir, args.base_port)
    try:
        if args.command == "env":
            print("\n".join(env_lines(lay, args.user)))
        elif args.command == "install":
            cmd_install(lay, args.cli)
        elif args.command == "down":
            cmd_stop(lay)
        elif args.command == "up":
            cmd_install(lay, args.cli)
            cmd_setup(lay)
            cmd_start(lay)
        else:
            globals()[f"cmd_{args.command}"](lay)
    except services.ServiceError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
