"""What every benchmark command shares at its edges: timestamped progress and the end of a run."""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

Say = Callable[[str], None]


def progress(started: float) -> Say:
    """A ``say`` that prints to stderr with the seconds since ``started``, so stdout stays the table."""
    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)
    return say


def close_run(root: Path, keep: bool, say: Say) -> None:
    """Remove the run's temporary directory, or say where it was kept."""
    if keep:
        say(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def publish(results: dict[str, Any], started: float, table: Callable[[], str], json_file: Path | None,
            default: Callable[[Any], Any] = str) -> int:
    """Print the table, write the figures as JSON when asked; the exit status (1 when a scenario failed)."""
    results["elapsed"] = time.monotonic() - started
    print()
    print(table())
    if json_file:
        json_file.write_text(json.dumps(results, indent=2, default=default))
    return 1 if results["errors"] else 0
