"""``stoker collect-logs [--output FILE]``: one tar.gz with everything a bug report needs, secrets masked.

What goes in and how secrets are masked: ``stoker/bugreport.py``. Reads the
state without the lock, so it works beside a running agent.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ..config import Settings
from ..exitcodes import BAD_INPUT, OK

LOG = logging.getLogger("stoker.cli")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``collect-logs`` to the ``stoker`` parser."""
    parser = commands.add_parser("collect-logs", parents=[common],
                                 help="write a tar.gz for a bug report: status, journal, config, hook logs "
                                      "(secrets masked)")
    parser.add_argument("--output", "-o", metavar="FILE", type=Path, default=None,
                        help="where to write it (default ./stoker-logs-<UTC time>.tar.gz)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Write the bundle and say where; exit 2 when it cannot be written."""
    from .. import bugreport  # here, not at the top: tarfile and platform stay out of the daemon

    output = args.output or Path(time.strftime("stoker-logs-%Y%m%dT%H%M%SZ.tar.gz", time.gmtime()))
    try:
        bundle = bugreport.collect(settings, output)
    except OSError as err:
        LOG.error("cannot write %s: %s", output, err.strerror or err)
        return BAD_INPUT
    print(f"wrote {bundle.path} ({len(bundle.members)} files; secrets masked)")
    for reason in bundle.skipped:
        print(f"  left out: {reason}")
    return OK
