"""Damaged state: every state file damaged in every way is survived, reported, and reruns nothing.

A state file can be emptied by a power cut before its data reached the disk,
cut short by a full disk or a half-copied backup, filled with garbage by a
bad sector, or hand-edited into valid JSON of the wrong shape. An agent that
crashes at every start over such a file is the worst failure it can have:
nothing is signalled any more and every stack waits for its timeout. So for
each state file and each kind of damage, the state of a server where
deployments have run (d1 and d2 signalled, d3's signal still owed because
Heat answered 503) is damaged, and then ``stoker status``, ``status --json``,
``apply`` (the same document), ``run --once`` (twice) and a last
``status --json`` run over it. Each must exit with a documented code and
without a traceback; no deployment may run again; the damaged file must be
moved to ``<state>/quarantine/`` and listed by ``status --json`` under
``quarantined``; a damaged journal record must reach Heat as a failure of
its deployment; a damaged transport.json must fall back to the config file.

The scenario code lives in ``bench/faults/damage.py`` (shared with ``python -m
bench faults``); the expectations of each case are written out in the
``_judge_*`` functions of ``bench/faults/damage_judges.py`` and summed up in
each failure message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from bench.faults import FILE_DESCRIPTIONS, FILES, KINDS, CaseResult, DamageWorld, ScenarioError

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DAMAGED = [(file, kind) for file in FILES for kind in KINDS if kind != "deleted"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DamageWorld]:
    """One loopback heat-api-cfn and the set-up templates, shared by every case of this module."""
    built = DamageWorld(Path(tmp_path_factory.mktemp("damaged-state")))
    try:
        yield built
    finally:
        built.close()


def run_case(world: DamageWorld, file: str, kind: str) -> CaseResult:
    try:
        return world.run_case(file, kind)
    except ScenarioError as err:
        pytest.fail(f"could not set up the case {FILE_DESCRIPTIONS[file]}, damage {kind}: {err}")


def where(result: CaseResult) -> str:
    return f"{FILE_DESCRIPTIONS[result.file]}, damage: {result.kind}"


def assert_survived(result: CaseResult) -> None:
    assert result.survived, (
        f"with {where(result)}, a stoker command crashed (a Python traceback, an exit code outside the "
        f"documented 0-6, or 'status --json' that is not JSON). Commands that failed:\n{result.crashes()}")


def assert_nothing_ran_again(result: CaseResult) -> None:
    assert not result.unexpected_reruns, (
        f"with {where(result)}, deployments ran again (hook runs beyond what was allowed: "
        f"{result.allowed_reruns or 'none'}): {result.unexpected_reruns}.\n{result.transcript()}")
    assert not result.signalled_again, (
        f"with {where(result)}, deployments Heat had already heard of were signalled again without running "
        f"again: {result.signalled_again}.\n{result.transcript()}")


@pytest.mark.parametrize("file,kind", DAMAGED, ids=[f"{f}-{k}" for f, k in DAMAGED])
def test_a_damaged_state_file_is_survived_reported_and_runs_nothing_again(world, file, kind):
    result = run_case(world, file, kind)
    assert_survived(result)
    assert_nothing_ran_again(result)
    assert not result.problems, (
        f"with {where(result)}, the damage was not reported as it must be:\n- " + "\n- ".join(result.problems)
        + f"\n{result.transcript()}")


@pytest.mark.parametrize("file", FILES)
def test_a_deleted_state_file_is_survived_and_runs_nothing_again(world, file):
    """A missing file is not damage (nothing to set aside), but must not crash anything either.

    One exception to "nothing runs again": ``journal/<key>.json`` is the agent's memory
    that the deployment ran. Deleted, the id looks new: what happens today is that the
    agent runs that deployment once more and signals the new run's result (here d3,
    whose first signal Heat never got, then gets exactly one signal). The item file
    ``deployed/<key>.json`` is still there, but the agent does not take it as proof of a
    run. For that case only "no crash" and "not more than once more" are binding.
    """
    result = run_case(world, file, "deleted")
    assert_survived(result)
    assert_nothing_ran_again(result)
    assert not result.problems, (
        f"with {where(result)}:\n- " + "\n- ".join(result.problems) + f"\n{result.transcript()}")
