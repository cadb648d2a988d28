"""The agent daemon and the classic-chain dispatcher (filled in by the polling work)."""
from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``run`` and ``dispatch``."""
