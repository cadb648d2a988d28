"""Logging for the agent: one line per event on stderr (journald adds the time), secrets scrubbed."""
from __future__ import annotations

import logging
import sys

from .redaction import RedactingFilter

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def setup(level: str = "info", with_time: bool = False) -> None:
    """Send every ``stoker.*`` log record, redacted, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    fmt = "%(asctime)s " if with_time else ""
    handler.setFormatter(logging.Formatter(fmt + "stoker %(levelname)s %(message)s"))
    logger = logging.getLogger("stoker")
    logger.handlers[:] = [handler]
    logger.setLevel(LEVELS.get(level.lower(), logging.INFO))
    logger.propagate = False
