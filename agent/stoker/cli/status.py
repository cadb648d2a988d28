"""``stoker status [--json] [--wait [--timeout S]]``: the agent's polling, every deployment, its signal.

Reads the state directory without the lock (``writer=False``), so it works
beside a running agent and never changes the state; the views are in
``stoker/status.py``. ``--wait`` is for scripts and CI (like ``cloud-init
status --wait``): it blocks until no hook runs and no signal waits, then
reports as usual.
"""
from __future__ import annotations

import argparse
import time

from ..config import Settings
from ..journal import Journal
from ..status import Snapshot, as_json, as_text, busy, exit_code, snapshot

WAIT_STEP = 1.0  # seconds between looks while waiting


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``status`` to the ``stoker`` parser."""
    parser = commands.add_parser("status", parents=[common], help="show the agent's polling and every deployment")
    parser.add_argument("--json", action="store_true", help="machine-readable output (see status.schema.json)")
    parser.add_argument("--wait", action="store_true",
                        help="block until no hook is running and no signal is waiting, then report")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", default=None,
                        help="with --wait: give up after this long and report (exit 3 if still busy)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the report; the exit code sums up the newest run of each deployment."""
    view = _look(settings)
    if args.wait:
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        while busy(view.records) and (deadline is None or time.monotonic() < deadline):
            time.sleep(WAIT_STEP)
            view = _look(settings)
    print(as_json(view.records, view.damage, view) if args.json else as_text(view))
    return exit_code(view.records, view.damage)  # 3 while still busy, as without --wait


def _look(settings: Settings) -> Snapshot:
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    return snapshot(journal, settings.work_dir)
