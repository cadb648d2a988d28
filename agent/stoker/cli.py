"""The ``stoker`` command: parse arguments, load settings, call the right piece.

Commands (their names are an interface that docs and images rely on):

* ``apply FILE|-``: treat a metadata document as freshly fetched, run what is new, deliver signals.
* ``status [--json]``: every known deployment and where its signal stands.
* ``rerun ID``: forget one deployment on purpose, so that it runs again when next seen.
* ``run [--once]``: the daemon: poll the metadata source and apply what is new.
* ``dispatch``: the classic chain's dispatcher (os-refresh-config's ``55-heat-config``).

Exit codes are documented in :mod:`stoker.status`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from . import __version__, config, logs, status
from .journal import AgentBusy, Journal, Record
from .metadata import MetadataError, load_document
from .session import open_session

LOG = logging.getLogger("stoker.cli")
BUSY = 5


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="config file (default $STOKER_CONFIG or /etc/stoker/stoker.conf)")
    common.add_argument("--state-dir", metavar="DIR", type=Path, default=argparse.SUPPRESS,
                        help="where the journal lives (default /var/lib/stoker)")
    common.add_argument("--log-level", choices=sorted(logs.LEVELS), default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="stoker", parents=[common],
                                     description="Software-configuration agent for OpenStack Heat servers.")
    parser.add_argument("--version", action="version", version=f"stoker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    apply = commands.add_parser("apply", parents=[common], help="run the new deployments of a metadata document")
    apply.add_argument("file", help="metadata JSON file, or - for stdin")
    apply.add_argument("--signal-wait", type=float, metavar="SECONDS", default=None,
                       help="how long to wait for signals before exiting (default 60)")
    apply.set_defaults(func=cmd_apply)

    show = commands.add_parser("status", parents=[common], help="show every known deployment")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_status)

    rerun = commands.add_parser("rerun", parents=[common], help="forget a deployment so it runs again")
    rerun.add_argument("id", help="deployment id or name")
    rerun.set_defaults(func=cmd_rerun)

    from .loop import add_commands  # the daemon's commands live with the loop
    add_commands(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
        return status.BAD_INPUT
    logs.setup(settings.log_level, with_time=sys.stderr.isatty())
    try:
        return args.func(args, settings)
    except AgentBusy as err:
        LOG.error("%s", err)
        return BUSY
    except BrokenPipeError:  # e.g. "stoker status | head": the reader left, nothing to report
        return status.OK


def _printable_output() -> None:
    """Whatever a document held (lone surrogates, any script), printing it must not fail."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def cmd_apply(args: argparse.Namespace, settings: config.Settings) -> int:
    try:
        document = load_document(_read(args.file))
    except (OSError, MetadataError) as err:
        LOG.error("cannot apply %s: %s", args.file, err)
        return status.BAD_INPUT
    with open_session(settings) as session:
        records = session.recovered + session.deployer.deploy(document)
        session.wait_for_signals(settings.signal_wait)
    print(summary(records))
    return status.exit_code(records)


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
    lines = [status.as_table(records), "",
             f"{len(records)} deployment(s): {len(records) - failed} succeeded, {failed} failed"]
    if pending:
        lines.append(f"{pending} signal(s) not delivered yet: they stay queued and are retried by the next "
                     "stoker run or apply")
    if refused:
        lines.append(f"{refused} signal(s) refused for good: see 'stoker status'")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, settings: config.Settings) -> int:
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    records = journal.records()
    damage = status.damage_report(journal)
    if args.json:
        print(status.as_json(records, damage))
    else:
        print(status.as_table(records) if records else "no deployments known")
        if damage:
            print("\n" + status.damage_table(damage))
    return status.exit_code(records, damage)


def cmd_rerun(args: argparse.Namespace, settings: config.Settings) -> int:
    journal = Journal(settings.state_dir, settings.deployed_dir, writer=False)
    record = journal.find(args.id)
    if record is None:
        LOG.error("no deployment %r is known", args.id)
        return status.BAD_INPUT
    if record.state != "finished":
        LOG.error("deployment %s is still running", args.id)
        return status.PENDING
    journal.request_rerun(record)
    try:
        with journal.locked():
            Journal(settings.state_dir, settings.deployed_dir).apply_rerun_requests()
    except AgentBusy:
        print(f"deployment {record.name or record.key} will run again at the running agent's next poll")
        return status.OK
    print(f"deployment {record.name or record.key} forgotten: it runs again when next seen")
    return status.OK


if __name__ == "__main__":
    sys.exit(main())
