"""The exit codes of the ``stoker`` command: the one table, kept in one place.

They are an interface (README.md, "Commands"): images, units and scripts test
them, so a code never changes meaning. The table lives outside the ``cli``
package because ``status.py`` and ``daemon.py`` need it too, and nothing
imports the CLI (docs/architecture.md, "Modules").

====  =================================================================
0     every deployment succeeded and every signal owed was delivered
1     at least one deployment failed, or a state file is damaged
2     bad input: unreadable metadata, bad options or config
3     signals still waiting to be delivered (or a hook still running)
4     a signal was refused for good or given up on: Heat will not hear
5     another stoker holds the state directory
6     (``run --once``, ``plan``) the metadata could not be fetched
7     (``plan``) deployments would run: changes are pending
====  =================================================================

When several of 1 to 4 apply, :func:`stoker.status.exit_code` picks the first
in the order 2, 1, 4, 3. ``dispatch`` uses only 0 and 3 (and 2, 5 for bad
config and a busy state directory).
"""
from __future__ import annotations

OK = 0
FAILED = 1
BAD_INPUT = 2
PENDING = 3
UNDELIVERABLE = 4
BUSY = 5
SOURCE_ERROR = 6
CHANGES_PENDING = 7
