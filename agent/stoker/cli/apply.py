"""``stoker apply FILE|-``: treat a metadata document as freshly fetched, run what is new, report.

The one-shot way in for tests, images and people: what the daemon does with
one fetched document, then a bounded wait for the signals and a summary.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import Settings
from ..exitcodes import BAD_INPUT
from ..journal import Record
from ..metadata import MetadataError, load_document
from ..session import open_session
from ..status import as_table, exit_code

LOG = logging.getLogger("stoker.cli")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``apply`` to the ``stoker`` parser."""
    parser = commands.add_parser("apply", parents=[common], help="run the new deployments of a metadata document")
    parser.add_argument("file", help="metadata JSON file, or - for stdin")
    parser.add_argument("--signal-wait", type=float, metavar="SECONDS", default=None,
                        help="how long to wait for signals before exiting (default 60)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Deploy the document; the exit code sums up this run's records and the recovered ones."""
    try:
        document = load_document(_read(args.file))
    except (OSError, MetadataError) as err:
        LOG.error("cannot apply %s: %s", args.file, err)
        return BAD_INPUT
    with open_session(settings) as session:
        records = session.recovered + session.deployer.deploy(document)
        session.wait_for_signals(settings.signal_wait)
    print(summary(records))
    return exit_code(records)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def summary(records: list[Record]) -> str:
    """What a one-shot command did, for the person who ran it."""
    if not records:
        return "nothing new to deploy"
    failed = sum(1 for r in records if r.ok is False)
    pending = sum(1 for r in records if r.signal.state == "pending")
    refused = sum(1 for r in records if r.signal.state == "failed")
    lines = [as_table(records), "",
             f"{len(records)} deployment(s): {len(records) - failed} succeeded, {failed} failed"]
    if pending:
        lines.append(f"{pending} signal(s) not delivered yet: they stay queued and are retried by the next "
                     "stoker run or apply")
    if refused:
        lines.append(f"{refused} signal(s) refused for good: see 'stoker status'")
    return "\n".join(lines)
