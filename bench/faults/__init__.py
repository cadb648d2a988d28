"""``python -m bench faults``: stoker under faults, as figures, from the same drivers the tests use.

The acceptance tests in ``tests/faults/`` and this report run the very same
scenario code, so a figure printed here is the figure the tests assert on:

* the SIGKILL loop (:mod:`.sigkill`): a chain of deployments published the way
  Heat publishes them (deployment i+1 once the signal of i arrived), the agent
  SIGKILLed at random moments and inside hooks, restarted each time;
* the full disk (:mod:`.disk`): the agent's state on a small tmpfs filled to
  the brim, a deployment printing megabytes, then space coming back;
* the damaged-state matrix (:mod:`.damage`, :mod:`.damage_cases`,
  :mod:`.damage_judges`): each state file damaged in each way, then every
  command run over it;
* the signal outage (:mod:`.outage`): how long after the endpoint answers
  again the signal arrives.

Everything talks to a loopback heat-api-cfn (:mod:`.heat`, over
``tests/loopback/cfn.py``) on 127.0.0.1; the agent is the ``stoker`` of the
Python running this (the test venv). Every process a scenario starts carries
a marker in its environment (:mod:`.agents`), so that clean-up ends exactly
those (hooks included, which live in their own process groups) and nothing
else. :mod:`.cli` runs the scenarios and :mod:`.report` prints their table.
"""
from __future__ import annotations

import sys
from pathlib import Path

# The drivers build on the test helpers (``tests.agent_helpers``, ``tests.loopback``). A package
# initialises before any of its modules, so putting the checkout on the path here serves them all,
# from whatever directory ``python -m bench faults`` is started.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from .agents import MARKER, AgentProcess, Supervisor, configure, end_processes, log_tail, new_agent, \
    read_record, run_counts  # noqa: E402
from .cli import main  # noqa: E402
from .common import ScenarioError, Unavailable, wait_until  # noqa: E402
from .damage import DamageWorld, damage_matrix  # noqa: E402
from .damage_cases import FILE_DESCRIPTIONS, FILES, KINDS, CaseResult, Command  # noqa: E402
from .disk import FullDiskFigures, full_disk  # noqa: E402
from .heat import Heat, signal_path  # noqa: E402
from .outage import Outage, OutageFigures, signal_outage  # noqa: E402
from .report import report  # noqa: E402
from .sigkill import SigkillFigures, sigkill_loop  # noqa: E402

__all__ = ["FILES", "FILE_DESCRIPTIONS", "KINDS", "MARKER", "AgentProcess", "CaseResult", "Command",
           "DamageWorld", "FullDiskFigures", "Heat", "Outage", "OutageFigures", "ScenarioError",
           "SigkillFigures", "Supervisor", "Unavailable", "configure", "damage_matrix", "end_processes",
           "full_disk", "log_tail", "main", "new_agent", "read_record", "report", "run_counts",
           "sigkill_loop", "signal_outage", "signal_path", "wait_until"]
