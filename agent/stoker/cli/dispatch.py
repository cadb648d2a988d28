"""``stoker dispatch``: the dispatcher for images that keep upstream's os-collect-config.

os-refresh-config's ``55-heat-config`` calls it with the documents
os-collect-config fetched; it runs their new deployments in the same frame as
``apply`` (``session.py``). Its exit code tells os-collect-config whether to
call again, not whether the deployments succeeded (that is Heat's news).
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..config import Settings
from ..exitcodes import OK, PENDING
from ..metadata import Document, MetadataError, load_document
from ..session import open_session

LOG = logging.getLogger("stoker.cli")
# Where heat-agents kept its deployed files before they moved to /var/lib; it moves them on first run.
OLD_DEPLOYED_DIR = "/var/run/heat-config/deployed"


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``dispatch`` to the ``stoker`` parser."""
    parser = commands.add_parser("dispatch", parents=[common],
                                 help="run the deployments in $OS_CONFIG_FILES (classic chain)")
    parser.set_defaults(func=command)


def command(_args: argparse.Namespace, settings: Settings) -> int:
    return dispatch(settings)


def dispatch_files(settings: Settings, env: dict[str, str] | None = None) -> list[Path]:
    """The documents the classic chain hands over: ``$OS_CONFIG_FILES``, else ``$HEAT_SHELL_CONFIG``."""
    env = dict(os.environ) if env is None else env
    listed = [Path(p) for p in env.get("OS_CONFIG_FILES", "").split(":") if p]
    return listed or [settings.shell_config]


def dispatch(settings: Settings) -> int:
    """Run the deployments of the classic chain's files.

    Exit 0 once every deployment is recorded and signalled (failures are
    Heat's news, not os-collect-config's); 3 while signals are still pending,
    so that os-collect-config calls again and they are retried.
    """
    documents = _documents(dispatch_files(settings))
    migrate_deployed_dir(settings.deployed_dir, Path(os.environ.get("HEAT_CONFIG_DEPLOYED_OLD") or OLD_DEPLOYED_DIR))
    with open_session(settings) as session:
        for document in documents:
            session.deployer.deploy(document)
        delivered = session.wait_for_signals(settings.signal_wait)
    return OK if delivered else PENDING


def migrate_deployed_dir(deployed: Path, old: Path) -> bool:
    """Move the deployed files from upstream's old place when the new place does not exist yet.

    Images upgraded from an old heat-agents keep their record of what ran in
    ``/var/run/heat-config/deployed`` (``$HEAT_CONFIG_DEPLOYED_OLD``); the
    classic dispatcher moves that directory once, and so does this, so that
    tools reading ``deployed/<id>.json`` find every deployment. A failed move
    is logged and the run goes on: the journal, not these files, says what ran.
    """
    if deployed.exists() or deployed == old or not old.is_dir():
        return False
    import shutil  # here, not at the top: it loads zlib, bz2 and lzma, which the daemon need not carry

    try:
        deployed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(old), str(deployed))
    except OSError as err:
        LOG.error("cannot move the deployed files from %s to %s: %s", old, deployed, err)
        return False
    LOG.info("moved the deployed files from %s to %s", old, deployed)
    return True


def _documents(paths: list[Path]) -> list[Document]:
    """The readable documents among ``paths``: a missing file is skipped, a bad one logged and skipped."""
    documents = []
    for path in paths:
        try:
            documents.append(load_document(path.read_bytes()))
        except FileNotFoundError:
            continue
        except (OSError, MetadataError) as err:
            LOG.error("cannot dispatch %s: %s", path, err)
    return documents
