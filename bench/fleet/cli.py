"""``python -m bench fleet``: a fleet of N servers on the real-Heat harness, stoker then upstream.

Each system gets its own stack on the same Heat, one after the other (stoker first),
with N agents on this machine. ``--help`` lists the knobs; bench/README.md says what
each figure is.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tests.heat.layout import Layout

from ..console import close_run, progress, publish
from ..stoker_side import StokerInstall
from ..upstream import InstallError, UpstreamInstall
from . import report, scenario
from .agents import Fleet, FleetStoker, upstream_agent
from .cloud import Cloud

MAX_SERVERS = 200


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=50,
                        help=f"servers (agents) per system, shared over the three transports (default 50, "
                             f"at most {MAX_SERVERS})")
    parser.add_argument("--polling-interval", type=float, default=20.0,
                        help="polling_interval written into every server's metadata, for both systems "
                             "(default 20; both default to 30)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument("--settle-seconds", type=float, default=None,
                        help="wait after the update before the idle window (default 2 polling intervals)")
    parser.add_argument("--timeout", type=float, default=480.0,
                        help="longest wait for a create or an update (default 480)")
    parser.add_argument("--no-upstream", action="store_true", help="stoker alone (no upstream install)")
    parser.add_argument("--upstream-dir", type=Path,
                        help="keep the upstream install here and re-use it (default: fresh, temporary)")
    parser.add_argument("--stoker", choices=("install", "current"), default="install",
                        help="install: pip install this checkout into a temporary venv (default); "
                             "current: the stoker of the Python running the benchmark")
    parser.add_argument("--keep-harness", action="store_true",
                        help="leave the harness running when this run started it")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (agents' logs)")
    args = parser.parse_args(argv)
    if not 1 <= args.servers <= MAX_SERVERS:
        parser.error(f"--servers must be from 1 to {MAX_SERVERS}")
    if args.upstream_dir is not None:
        args.upstream_dir = args.upstream_dir.resolve()  # the agents run in directories of their own
    if args.settle_seconds is None:
        args.settle_seconds = 2 * args.polling_interval
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so that the agents (each in its own session) are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    say = progress(started)
    root = Path(tempfile.mkdtemp(prefix="stoker-fleet-"))
    results: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "errors": {}, "systems": {}}
    cloud = Cloud(Layout.from_env())
    settings = scenario.Settings(args.servers, args.polling_interval, args.idle_seconds,
                                 args.settle_seconds, args.timeout)
    try:
        cloud.ensure_up(say)
        for name, make in _systems(args, root, results, say):
            say(f"{name}: {args.servers} servers")
            figures = scenario.run(cloud, Fleet(make, root / name), settings, say)
            results["systems"][name] = asdict(figures)
            if figures.errors:
                results["errors"][name] = "; ".join(figures.errors)[:2000]
    except InstallError as err:
        results["errors"]["install"] = str(err)
        say(f"install failed: {err}")
    finally:
        cloud.close(stop_harness=not args.keep_harness)
        close_run(root, args.keep, say)
    return publish(results, started, lambda: report.table(results, markdown=args.markdown), args.json)


def _systems(args: argparse.Namespace, root: Path, results: dict, say):
    """(name, agent factory) for each system, installing each just before its turn."""
    stoker = StokerInstall.current() if args.stoker == "current" else StokerInstall.create(root / "stoker-venv", say)
    yield "stoker", lambda where, metadata: FleetStoker(stoker, where, metadata)
    if args.no_upstream:
        return
    if args.upstream_dir is not None:
        try:
            upstream = UpstreamInstall.existing(args.upstream_dir)
            say(f"re-using the upstream install in {args.upstream_dir}")
        except InstallError:
            upstream = UpstreamInstall.create(args.upstream_dir, say)
    else:
        upstream = UpstreamInstall.create(root / "upstream-install", say)
    results["versions"] = upstream.versions()
    yield "upstream", lambda where, metadata: upstream_agent(upstream, where, metadata)


if __name__ == "__main__":
    sys.exit(main())
