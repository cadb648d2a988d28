"""Carry out deployments: plan, run each hook, record the result, hand the signal to the outbox.

Shared by every command that processes metadata (``apply``, ``run``,
``dispatch``), so that "the metadata changed" and "the hook starts" are one
function call apart. Every path from "item seen" ends in a payload handed to
the outbox: a hook's result, a planned failure, or, after a crash, the
"interrupted" failure recorded by :meth:`Deployer.recover`.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Mapping

from . import payload, redaction, runner
from .config import Settings
from .journal import Journal, Record, current_boot_id, process_running, process_start_time
from .metadata import Document, Item
from .plan import HookFinder, Work, plan
from .signals import transport_of
from .signals.outbox import Outbox

LOG = logging.getLogger("stoker.deployer")
INTERRUPTED = "interrupted: the agent stopped while the hook was running"
INTERRUPTED_BY_REBOOT = "interrupted: the server restarted while the hook was running"


class Deployer:
    """Runs new deployments of a document, one at a time, in list order."""

    def __init__(self, settings: Settings, journal: Journal, outbox: Outbox,
                 hook_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.journal = journal
        self.outbox = outbox
        self.finder = HookFinder(settings.hook_search_path())
        self.hook_env = {**os.environ, **(hook_env or {})}

    def recover(self) -> list[Record]:
        """Fail, and signal, every deployment whose hook was running when the agent died.

        Running it again could repeat work that is not idempotent; forgetting it
        would leave Heat waiting until the stack times out. A hook process that
        outlived the agent is stopped first.
        """
        recovered = []
        for record in self.journal.interrupted():
            rebooted = record.boot_id is not None and record.boot_id != current_boot_id()
            if not rebooted:  # after a reboot the pid names some other process, if any
                _stop_leftover(record)
            item = self.journal.item(record.key) or {}
            self._finish(record, item, payload.failure(INTERRUPTED_BY_REBOOT if rebooted else INTERRUPTED))
            recovered.append(record)
        return recovered

    def deploy(self, document: Document) -> list[Record]:
        """Run everything new in ``document``; return the records of what ran."""
        for problem in document.ignored:
            LOG.error("ignored part of the metadata: %s", problem)
        return [self.carry_out(work) for work in plan(document, self._known(), self.finder)]

    def carry_out(self, work: Work) -> Record:
        """Run one deployment (or record its planned verdict) and queue its signal."""
        item = work.item
        redaction.remember_secret_fields(item.raw.get("inputs"))
        record = self.journal.begin(item, work.tool)
        LOG.info("deployment %s started (group %s, action %s)", item.label, work.tool, item.action)
        if work.verdict is not None:
            result = work.verdict
        else:
            result = self._run(work, record)
        self._finish(record, item.raw, result)
        return record

    def _known(self) -> set[str]:
        return {record.key for record in self.journal.records()}

    def _run(self, work: Work, record: Record) -> dict:
        assert work.hook is not None and work.stdin is not None
        outcome = runner.run_hook(work.hook, json.dumps(work.stdin).encode("utf-8"),
                                  timeout=self.timeout_for(work.item), scratch=self.settings.work_dir,
                                  env=self.hook_env, on_start=lambda pid: self.journal.set_pid(record, pid))
        return payload.from_hook(outcome, work.hook.name)

    def timeout_for(self, item: Item) -> float:
        """The item's own ``options.timeout`` when it sets a positive number, else the agent's."""
        options = item.raw.get("options")
        value = options.get("timeout") if isinstance(options, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        return self.settings.hook_timeout

    def _finish(self, record: Record, raw_item: dict, result: dict) -> None:
        result = payload.fit(result)
        outputs = raw_item.get("outputs") if isinstance(raw_item.get("outputs"), list) else []
        ok = payload.is_success(result, [o for o in outputs if isinstance(o, dict)])
        inputs = {i.get("name"): i.get("value") for i in raw_item.get("inputs") or [] if isinstance(i, dict)}
        self.journal.finish(record, result, ok, "" if ok else failure_reason(result),
                            self.outbox.new_state(transport_of(inputs)))
        self.outbox.wake()
        level = logging.INFO if ok else logging.ERROR
        LOG.log(level, "deployment %s %s (status %s)%s", record.name or record.key,
                "succeeded" if ok else "failed", record.status_code,
                "" if ok else ": " + record.reason)


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


def _stop_leftover(record: Record) -> None:
    """Stop a hook process group that outlived a killed agent (if the pid is still that process)."""
    if record.pid and record.pid_start and process_start_time(record.pid) == record.pid_start:
        LOG.warning("stopping hook process %d left running by a previous agent", record.pid)
        runner.stop_group(record.pid, runner.GRACE_SECONDS,
                          lambda: not process_running(record.pid, record.pid_start))

