"""Carry out deployments: plan, run each hook, record the result, hand the signal to the outbox.

Shared by every command that processes metadata (``apply``, ``run``,
``dispatch``), so that "the metadata changed" and "the hook starts" are one
function call apart. Every path from "item seen" ends in a payload handed to
the outbox: a hook's result, a planned failure, or, after a crash, what
:meth:`Deployer.recover` finds out (the hook's real result when it finished,
"interrupted" only when it was really cut off).

Errors are contained per deployment: whatever goes wrong with one (a bug, a
full disk, a damaged file), it ends in a failure signal and the next
deployment still runs.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Mapping

from . import payload, redaction, runner
from .config import Settings
from .journal import (SIGNAL_FAILED, DiskFull, Journal, Record, SignalState, current_boot_id,
                      process_running, process_start_time)
from .metadata import Document, Item, parse_item
from .plan import HookFinder, Work, plan
from .signals import transport_of
from .signals.outbox import Outbox

LOG = logging.getLogger("stoker.deployer")
INTERRUPTED = "interrupted: the agent stopped while the hook was running"
INTERRUPTED_BY_REBOOT = "interrupted: the server restarted while the hook was running"
DAMAGED_RECORD = ("stoker's journal record of this deployment was damaged ({reason}) and was moved to "
                  "quarantine; the deployment is not run again, and its result is unknown")
ADOPT_POLL_SECONDS = 0.2


class Deployer:
    """Runs new deployments of a document, one at a time, in list order."""

    def __init__(self, settings: Settings, journal: Journal, outbox: Outbox,
                 hook_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.journal = journal
        self.outbox = outbox
        self.finder = HookFinder(settings.hook_search_path())
        self.hook_env = {**os.environ, **(hook_env or {})}

    # ------------------------------------------------------------ after a crash

    def recover(self) -> list[Record]:
        """Settle what the last agent left unfinished: damaged records and hooks that were running.

        A hook that finished while no agent watched is reported with its real
        result; one still running is waited for; one that never started runs
        when its item is seen again. Only a hook that was really cut off (by a
        reboot, or killed with the agent) is reported as interrupted: running
        it again could repeat work that is not idempotent, and forgetting it
        would leave Heat waiting until the stack times out.
        """
        recovered = [self._report_damaged(damaged.key, damaged.reason) for damaged in self.journal.damaged]
        self.journal.damaged.clear()
        for record in self.journal.interrupted():
            try:
                if self._recover_one(record):
                    recovered.append(record)
            except Exception:  # noqa: BLE001 - one bad record must not stop the others
                LOG.exception("could not recover deployment %s", record.name or record.key)
        self.sweep_rundirs()
        return recovered

    def _recover_one(self, record: Record) -> bool:
        """Settle one record left running; False when it was forgotten because its hook never started."""
        rundir = self.rundir(record.key)
        rebooted = record.boot_id is not None and record.boot_id != current_boot_id()
        item = self._stored_item(record.key)
        lost = None
        outcome = None if rebooted else self._adopt(record, rundir, item)
        if outcome is None:
            status, lost = runner.read_status(rundir)
            if status is not None or lost:
                outcome = runner.collect(rundir, None, status)
        if outcome is not None:
            LOG.info("deployment %s: its hook finished while the agent was down; reporting its result",
                     record.name or record.key)
            result = payload.from_hook(outcome, record.tool or record.group)
            if lost:
                self.journal.quarantine.put(rundir / "status", lost)
                result = payload.failure(f"the hook finished, but its exit status was lost: its status file "
                                         f"{lost}", payload.status_code(result) or 1,
                                         str(result[payload.STDOUT]), str(result[payload.STDERR]))
            self._finish(record, item, result)
        elif runner.recorded_pid(rundir) is None and not rebooted:
            LOG.info("deployment %s had not started its hook when the agent stopped: it runs when seen again",
                     record.name or record.key)
            self.journal.forget(record)
            runner.clear_rundir(rundir)
            return False
        else:
            self._finish(record, item, payload.failure(INTERRUPTED_BY_REBOOT if rebooted else INTERRUPTED))
        return True

    def _adopt(self, record: Record, rundir, item: Item | None) -> runner.HookOutcome | None:
        """Wait for a hook that outlived the last agent; its outcome only when it ran past its timeout.

        None when no hook is running (any more): what it left in its run
        directory is then read like that of a hook that ended while no agent watched.
        """
        pid = self._live_wrapper(record, rundir)
        if pid is None:
            return None
        timeout = self.timeout_for(item) if item is not None else self.settings.hook_timeout
        deadline = (record.started_at or time.time()) + timeout
        LOG.warning("deployment %s: its hook (pid %d) is still running from the last agent; waiting for it",
                    record.name or record.key, pid)
        start = process_start_time(pid)
        while process_running(pid, start):
            if time.time() >= deadline:
                runner.stop_group(pid, runner.GRACE_SECONDS, lambda: not process_running(pid, start))
                outcome = runner.collect(rundir, None)
                outcome.timed_out, outcome.timeout = True, timeout
                return outcome
            time.sleep(ADOPT_POLL_SECONDS)
        return None

    def _live_wrapper(self, record: Record, rundir) -> int | None:
        """The pid of the hook's wrapper when it is still running, else None."""
        if record.pid and record.pid_start and process_start_time(record.pid) == record.pid_start \
                and process_running(record.pid, record.pid_start):
            return record.pid
        return runner.find_wrapper(rundir)

    def _report_damaged(self, key: str, reason: str) -> Record:
        """A record that could not be read: a failure for Heat when its item still says where to signal."""
        item = self._stored_item(key)
        record = Record(key=key, id=item.id if item else key, name=item.name if item else "",
                        group=item.group if item else "", action=item.action if item else "",
                        stack=item.stack_name if item else "", resource=item.resource_name if item else "",
                        seen_at=time.time(), started_at=None)
        text = DAMAGED_RECORD.format(reason=reason)
        if item is None:
            self.journal.finish(record, payload.failure(text), False, text,
                                SignalState(state=SIGNAL_FAILED, last_error="cannot signal: the deployment's item "
                                            "is missing or damaged too"))
            LOG.error("deployment %s: %s; its item is gone too, so Heat cannot be told", key, text)
            return record
        self._finish(record, item, payload.failure(text))
        return record

    def _stored_item(self, key: str) -> Item | None:
        raw, problem = self.journal.item(key)
        if raw is None:
            if problem:
                LOG.error("deployment %s: %s", key, problem)
            return None
        return parse_item(raw)

    # ------------------------------------------------------------ new work

    def deploy(self, document: Document) -> list[Record]:
        """Run everything new in ``document``; return the records of what ran."""
        for problem in document.ignored:
            LOG.error("ignored part of the metadata: %s", problem)
        self.flush()
        seen_at = time.time()  # the document was fetched just now: items later in it wait for earlier ones
        records = []
        for work in plan(document, self._known(), self.finder):
            record = self.carry_out(work, seen_at)
            if record is not None:
                records.append(record)
        return records

    def carry_out(self, work: Work, seen_at: float | None = None) -> Record | None:
        """Run one deployment (or record its planned verdict) and queue its signal; never raises."""
        item = work.item
        try:
            redaction.remember_secret_fields(item.raw.get("inputs"))
            verdict, launch = work.verdict, None
            if verdict is None:
                try:
                    launch = self._launch(work)
                except Exception as err:  # noqa: BLE001 - recorded and signalled like any failed start
                    LOG.exception("deployment %s: its hook could not be started", item.label)
                    verdict = payload.failure(f"stoker could not start the hook: {type(err).__name__}: {err}")
            try:
                record = self.journal.begin(item, work.tool, seen_at, pid=launch.pid if launch else None)
            except BaseException as err:
                if launch is not None:
                    launch.abandon()  # its start is not on disk: the hook must not start
                if not isinstance(err, DiskFull):
                    raise
                record = self.journal.get(item.key)
                assert record is not None
                LOG.error("deployment %s not started: %s", item.label, err.strerror)
                self._finish(record, item, payload.failure(f"{err.strerror}, so it was not run"))
                return record
            LOG.info("deployment %s started (group %s, action %s)", item.label, work.tool, item.action)
            if launch is None:
                result = verdict
            else:
                assert work.hook is not None
                result = payload.from_hook(launch.run(self.timeout_for(item)), work.hook.name)
            self._finish(record, item, result)
            return record
        except Exception as err:  # noqa: BLE001 - one deployment's failure must not stop the others
            LOG.exception("deployment %s failed inside stoker", item.label)
            return self._fail_internally(item, work.tool, err)

    def _fail_internally(self, item: Item, tool: str, err: Exception) -> Record | None:
        """Report a deployment that stoker itself could not carry through (a bug or an OS error)."""
        record = self.journal.get(item.key)
        if record is None:
            return None  # not even begun: it was not run, and runs when next seen
        try:
            self._finish(record, item, payload.failure(f"stoker could not carry out this deployment: "
                                                        f"{type(err).__name__}: {err}"))
        except Exception:  # noqa: BLE001
            LOG.exception("deployment %s: the failure could not be recorded either", item.label)
        return record

    def _known(self) -> set[str]:
        return {record.key for record in self.journal.records()}

    def rundir(self, key: str):
        return self.settings.work_dir / key

    def _launch(self, work: Work) -> runner.Launch:
        """Start the hook's wrapper, held at its gate until the start is recorded."""
        assert work.hook is not None and work.stdin is not None
        return runner.start_hook(work.hook, json.dumps(work.stdin).encode("utf-8"),
                                 rundir=self.rundir(work.item.key), env=self.hook_env)

    def timeout_for(self, item: Item) -> float:
        """The item's own ``options.timeout`` when it sets a positive number, else the agent's."""
        return item.timeout or self.settings.hook_timeout

    def _finish(self, record: Record, item: Item | None, result: dict) -> None:
        result = payload.fit(result)
        ok = payload.is_success(result, item.outputs if item else [])
        inputs = item.inputs if item else {}
        saved = self.journal.finish(record, result, ok, "" if ok else failure_reason(result),
                                    self.outbox.new_state(transport_of(inputs)))
        self.outbox.wake()  # the signal goes out while the run directory is cleared
        if saved:
            runner.clear_rundir(self.rundir(record.key))
        level = logging.INFO if ok else logging.ERROR
        LOG.log(level, "deployment %s %s (status %s)%s", record.name or record.key,
                "succeeded" if ok else "failed", record.status_code,
                "" if ok else ": " + record.reason)

    # ------------------------------------------------------------ housekeeping

    def flush(self) -> bool:
        """Save what a full disk kept in memory; True when nothing is left unsaved."""
        try:
            done = self.journal.flush()
        except OSError as err:
            LOG.error("cannot save the journal yet: %s", err.strerror or err)
            return False
        if done:
            self.sweep_rundirs()
        return done

    def sweep_rundirs(self) -> None:
        """Remove run directories whose deployment is settled (a crash can leave them behind)."""
        try:
            leftovers = list(self.settings.work_dir.iterdir()) if self.settings.work_dir.is_dir() else []
        except OSError:
            return
        for path in leftovers:
            record = self.journal.get(path.name)
            if (record is None or record.state != "running") and not self.journal.has_unsaved():
                runner.clear_rundir(path)


def failure_reason(result: Mapping) -> str:
    """One line that says why a deployment failed, for ``stoker status``."""
    stderr = str(result.get(payload.STDERR) or "")
    for line in reversed(stderr.splitlines()):
        if line.startswith("stoker: "):
            return redaction.redact(line[len("stoker: "):])[:300]
    code = payload.status_code(result)
    if not code:
        return "an error output was set"
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    return redaction.redact(f"exit status {code}: {last}" if last else f"exit status {code}")[:300]
