"""``stoker analyze [--svg FILE] [--json] [--all]``: when each deployment was fetched, ran and was signalled.

Reads the journal and ``polling.json`` without the lock (like ``status``), so
it works beside a running agent and changes nothing. The text view lists the
deployments longest first (like ``systemd-analyze blame``); ``--svg`` also
draws the timeline (``stoker/timeline_svg.py``); ``--json`` is for scripts.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .. import fsutil
from ..config import Settings
from ..exitcodes import BAD_INPUT, OK
from ..journal import Journal, current_boot_id
from ..pollstate import PollStateFile

LOG = logging.getLogger("stoker.cli")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``analyze`` to the ``stoker`` parser."""
    parser = commands.add_parser("analyze", parents=[common],
                                 help="the timeline: fetch, run and signal times of each deployment")
    parser.add_argument("--svg", metavar="FILE", type=Path, default=None,
                        help="also write the timeline as a self-contained SVG picture")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--all", action="store_true", dest="everything",
                        help="every deployment in the journal, not only those of the current boot")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the timeline; write the picture when asked. Exit 0, or 2 when the picture cannot be written."""
    from .. import timeline  # here, not at the top: the daemon imports this module and never draws

    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    view = timeline.build(journal.records(), PollStateFile(settings.state_dir).load(),
                          boot_id=current_boot_id(), boot_at=timeline.boot_time(),
                          everything=args.everything)
    if args.svg is not None:
        from .. import timeline_svg

        try:
            fsutil.atomic_write(args.svg, timeline_svg.render(view).encode("utf-8"), mode=0o644)
        except OSError as err:
            LOG.error("cannot write %s: %s", args.svg, err.strerror or err)
            return BAD_INPUT
    print(json.dumps(timeline.as_json(view), indent=2, sort_keys=True) if args.json else timeline.as_text(view))
    return OK
