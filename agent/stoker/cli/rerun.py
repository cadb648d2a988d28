"""``stoker rerun ID``: forget one deployment on purpose, so that it runs again when next seen.

The request is a file in the state directory (docs/architecture.md, "The
journal"); whoever holds the lock applies it: this command when no agent
runs, else the running agent at its next poll.
"""
from __future__ import annotations

import argparse
import logging

from ..config import Settings
from ..exitcodes import BAD_INPUT, OK, PENDING
from ..journal import AgentBusy, Journal

LOG = logging.getLogger("stoker.cli")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``rerun`` to the ``stoker`` parser."""
    parser = commands.add_parser("rerun", parents=[common], help="forget a deployment so it runs again")
    parser.add_argument("id", help="deployment id or name")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Record the request and apply it now if the state is free; a running hook cannot be forgotten."""
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    record = journal.find(args.id)
    if record is None:
        LOG.error("no deployment %r is known", args.id)
        return BAD_INPUT
    if record.state != "finished":
        LOG.error("deployment %s is still running", args.id)
        return PENDING
    journal.request_rerun(record)
    try:
        with journal.locked():
            Journal(settings.state_dir, settings.deployed_dir).apply_rerun_requests()
    except AgentBusy:
        print(f"deployment {record.name or record.key} will run again at the running agent's next poll")
        return OK
    print(f"deployment {record.name or record.key} forgotten: it runs again when next seen")
    return OK
