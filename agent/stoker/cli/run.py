"""``stoker run [--once]``: the daemon, or one full cycle of it (``daemon.py``).

The daemon gets a way to load the settings rather than the settings, so that
SIGHUP can read the config file again with the same command-line overrides.
"""
from __future__ import annotations

import argparse

from ..config import Settings
from ..daemon import Daemon


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``run`` to the ``stoker`` parser."""
    parser = commands.add_parser("run", parents=[common], help="poll the metadata and apply what is new")
    parser.add_argument("--once", action="store_true", help="one full cycle, then exit")
    parser.add_argument("--signal-wait", type=float, metavar="SECONDS", default=None,
                        help="with --once: how long to wait for signals before exiting (default 60)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, _settings: Settings) -> int:
    """Run the daemon until it is stopped (or once); its exit code."""
    return Daemon(args.load_settings).run(args.once)
