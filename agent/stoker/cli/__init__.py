"""The ``stoker`` command: parse arguments, load settings, hand over to one command module.

Commands (their names, options, output and exit codes are an interface that
docs and images rely on: README.md, "Commands"), one module each:

* ``apply FILE|-`` (``apply.py``): treat a metadata document as freshly fetched, run what is new,
  deliver signals.
* ``status [--json]`` (``status.py``): every known deployment and where its signal stands.
* ``plan [--json] [FILE|-]`` (``plan.py``): what would run next, without running it.
* ``analyze [--svg FILE] [--json]`` (``analyze.py``): the timeline of fetches, hooks and signals.
* ``collect-logs [--output FILE]`` (``collect_logs.py``): a tar.gz for a bug report, secrets masked.
* ``rerun ID`` (``rerun.py``): forget one deployment on purpose, so that it runs again when next seen.
* ``run [--once]`` (``run.py``): the daemon: poll the metadata source and apply what is new.
* ``dispatch`` (``dispatch.py``): the classic chain's dispatcher (os-refresh-config's
  ``55-heat-config``).

Each command module has ``register(commands, common)``, which adds its
sub-parser, and ``command(args, settings) -> int``; what only one command
needs (the bug-report tarball, the plan's diffs, the timeline's SVG) is imported
inside its ``command``, so that the daemon, which is resident for good, does not
carry it. The exit codes are the
table in :mod:`stoker.exitcodes`. Nothing else in the agent imports this
package: the commands call the agent's pieces, never the other way round.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from .. import __version__, config, logs
from ..exitcodes import BAD_INPUT, BUSY, OK
from ..journal import AgentBusy
from . import analyze, apply, collect_logs, dispatch, plan, rerun, run, status

LOG = logging.getLogger("stoker.cli")
COMMANDS = (apply, plan, status, analyze, collect_logs, rerun, run, dispatch)  # in the order ``stoker --help`` lists them


class Parser(argparse.ArgumentParser):
    """argparse's parser with a help formatter told the terminal's width.

    Left to itself, argparse's formatter imports ``shutil`` to ask for the width
    (at every ``add_argument``), and ``shutil`` loads zlib, bz2 and lzma, which
    ``stoker run``, resident for good, would carry for nothing.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _help_formatter)
        super().__init__(*args, **kwargs)


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=_terminal_columns() - 2)


def _terminal_columns() -> int:
    """What ``shutil.get_terminal_size`` answers: ``$COLUMNS``, else the terminal's width, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; the global options are repeated on each command (``parents``)."""
    common = _common_options()
    parser = Parser(prog="stoker", parents=[common],
                    description="Software-configuration agent for OpenStack Heat servers.")
    parser.add_argument("--version", action="version", version=f"stoker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS:
        module.register(commands, common)
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The global options, accepted before or after the command name.

    ``SUPPRESS`` keeps an option given before the command from being reset by
    the command's own default.
    """
    common = Parser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="config file (default $STOKER_CONFIG or /etc/stoker/stoker.conf)")
    common.add_argument("--state-dir", metavar="DIR", type=Path, default=argparse.SUPPRESS,
                        help="where the journal lives (default /var/lib/stoker)")
    common.add_argument("--log-level", choices=sorted(logs.LEVELS), default=argparse.SUPPRESS)
    return common


def main(argv: Sequence[str] | None = None) -> int:
    """The console script's entry point (``stoker = stoker.cli:main``); answers the exit code."""
    _printable_output()
    args = build_parser().parse_args(argv)
    args.load_settings = lambda: config.load(
        getattr(args, "config", None),
        overrides={"state_dir": getattr(args, "state_dir", None),
                   "log_level": getattr(args, "log_level", None),
                   "signal_wait": getattr(args, "signal_wait", None)})
    try:
        settings = args.load_settings()
    except config.ConfigError as err:
        logs.setup()
        LOG.error("%s", err)
        return BAD_INPUT
    logs.setup(settings.log_level, with_time=sys.stderr.isatty())
    try:
        return args.func(args, settings)
    except AgentBusy as err:
        LOG.error("%s", err)
        return BUSY
    except BrokenPipeError:  # e.g. "stoker status | head": the reader left, nothing to report
        return OK


def _printable_output() -> None:
    """Whatever a document held (lone surrogates, any script), printing it must not fail."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
