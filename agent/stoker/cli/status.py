"""``stoker status [--json]``: every known deployment and where its signal stands.

Reads the journal without the lock (``writer=False``), so it works beside a
running agent and never changes the state; the views are in ``stoker/status.py``.
"""
from __future__ import annotations

import argparse

from ..config import Settings
from ..journal import Journal
from ..status import as_json, as_table, damage_report, damage_table, exit_code


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``status`` to the ``stoker`` parser."""
    parser = commands.add_parser("status", parents=[common], help="show every known deployment")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the deployments and any damaged state files; the exit code sums them up."""
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    records = journal.records()
    damage = damage_report(journal)
    if args.json:
        print(as_json(records, damage))
    else:
        print(as_table(records) if records else "no deployments known")
        if damage:
            print("\n" + damage_table(damage))
    return exit_code(records, damage)
