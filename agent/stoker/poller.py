"""The poller: fetch the metadata, notice change, follow Heat's source settings, deploy.

One cycle is what upstream spreads over os-collect-config and
os-refresh-config: poll, compare with the last document, and hand what changed
to the deployer, with nothing but a function call between "the metadata
changed" and "the hook starts" (docs/architecture.md, "The data path").

The interval adapts: right after a change or a delivered signal the agent
polls again within a second (Heat often publishes the next deployment as soon
as it gets a signal), then backs off, doubling, to the configured
``polling_interval``. A failing source backs off the same way and logs only
when its error changes, so an outage does not flood the journal. Steady polls
fall on the agent's own random phase of the interval, with jitter
(``pacing.py``), so that a fleet started together does not poll in step.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from . import sourceconfig
from .config import Settings
from .digest import sha256_hex
from .journal import Record
from .metadata import Document, MetadataError, load_document, parse_document
from .pollstate import PollState, PollStateFile
from .pacing import PollClock
from .session import AgentSession, tls_options

LOG = logging.getLogger("stoker.poller")
NO_QUICK_POLLS = 20  # a quiet-poll count past any polling interval: straight to the steady schedule


class Poller:
    """Fetches the metadata, notices change, follows Heat's source settings, deploys."""

    def __init__(self, settings: Settings, session: AgentSession) -> None:
        self.settings = settings
        self.session = session
        self.source_config: sourceconfig.SourceConfig | None = None
        self._persisted = False  # whether the state dir holds the source in use
        self._load_source_config()
        self._source: Any = None
        self._validators: dict[str, str] = {}
        self._digest: str | None = None
        self._quiet_polls = 0
        # Follow-up polls after a delivered signal (see hurry()): whether Heat has been publishing
        # this server's next deployment right after its signals, and where the current follow-up stands.
        self._chaining = False
        self._after_signal: str | None = None  # None, "quick" (the polls right after it), "steady" (the first steady one)
        self._failures = 0
        self._last_error = ""
        self.records: list[Record] = []
        self.wakeup = threading.Event()
        self.poll_state = PollState.started(settings.polling_interval)
        self._poll_state_file = PollStateFile(settings.state_dir)
        self.clock = PollClock(settings.spread, settings.jitter)

    # ------------------------------------------------------------ one cycle

    def bootstrap(self) -> None:
        """At first boot, run what cfn-init-data already holds (the journal skips what ran)."""
        if sourceconfig.learned(self.settings) is not None:
            return
        document = sourceconfig.bootstrap_document(self.settings)
        if document is not None:
            self._deploy(parse_document(document))

    def cycle(self) -> bool:
        """Poll once and deploy what is new; False when the metadata could not be had."""
        self._housekeeping()
        if self.source_config is None:
            self._load_source_config()
            if self.source_config is None:
                return self._failed("no metadata source is configured: none learned in the state, the "
                                    f"config file, {self.settings.os_collect_config} or "
                                    f"{self.settings.cfn_init_data}")
        try:
            content = self._fetch()
        except Exception as err:  # noqa: BLE001 - a source error must never stop the agent
            return self._failed(f"polling {self.source_config.describe()} failed: {err}")
        self._recovered()
        if content is None:
            self._quiet_polls += 1
            if self._after_signal == "steady":  # a whole follow-up found nothing: Heat is not chaining here
                self._chaining, self._after_signal = False, None
            self._report(None)
            return True
        try:
            document = load_document(content)
        except MetadataError as err:
            return self._failed(f"metadata from {self.source_config.kind}: {err}")
        self._changed()
        self._follow(document)
        self._report(None, changed=True)
        self._deploy(document)
        return True

    def _changed(self) -> None:
        """A new document: after start, or where Heat chains deployments, keep looking quickly."""
        if self._after_signal is not None:  # it came in a follow-up: Heat chains deployments here
            self._chaining, self._after_signal = True, None
        first = self.poll_state.last_change_at is None  # called before this poll is reported
        self._quiet_polls = 0 if first or self._chaining else NO_QUICK_POLLS

    def _report(self, error: str | None, changed: bool = False) -> None:
        """Put this poll's outcome in ``polling.json`` for ``stoker status`` and the metrics."""
        state = self.poll_state
        if self.source_config is not None:
            state.source, state.origin = self.source_config.kind, self.source_config.origin
            state.endpoint = self.source_config.endpoint()
        else:
            state.source = state.origin = state.endpoint = ""
        state.interval = self.interval_ceiling()
        state.polled(error, changed)
        self._poll_state_file.save(state)
        metrics = getattr(self.session, "metrics", None)
        if metrics is not None:
            metrics.polled(state)

    def _housekeeping(self) -> None:
        """Before each poll: save what a full disk kept in memory, take ``stoker rerun`` requests.

        A rerun request makes this poll fetch unconditionally and deploy even
        when the metadata did not change, so it takes effect now, not at the
        next change or restart.
        """
        journal = self.session.journal
        if journal.has_unsaved():
            self.session.deployer.flush()
        if journal.apply_rerun_requests():
            self._validators, self._digest = {}, None

    def _fetch(self) -> bytes | None:
        """New content, or None when the document is unchanged (304 or same bytes)."""
        from .sources import make_source  # sources are only needed by the polling commands

        if self._source is None:
            assert self.source_config is not None
            self._source = make_source(self.source_config.kind, self.source_config.settings,
                                       timeout=self.settings.timeout, tls=tls_options(self.settings))
            self._validators, self._digest = {}, None
        fetched = self._source.fetch(self._validators)
        self._validators = dict(fetched.validators)
        if fetched.content is None:
            return None
        digest = sha256_hex(fetched.content)
        if digest == self._digest:
            return None
        self._digest = digest
        return fetched.content

    def _deploy(self, document: Document) -> None:
        records = self.session.deployer.deploy(document)
        self.records.extend(records)

    def _follow(self, document: Document) -> None:
        """When Heat rewrote the os-collect-config key, persist it and switch to it."""
        collect = document.collect_settings
        if not collect:
            return
        found = sourceconfig.choose(collect, "the fetched metadata", self.settings.cfn_metadata_server)
        if found is None:
            LOG.warning("the fetched metadata names no usable source; still polling %s",
                        self.source_config.describe() if self.source_config else "nothing")
            return
        changed = self.source_config is None or (found.kind, dict(found.settings)) != \
            (self.source_config.kind, dict(self.source_config.settings))
        if changed and self.source_config is not None:
            LOG.info("metadata source changed: now polling %s", found.kind)
        if changed or not self._persisted:
            # Persisted at the first answer too, not only on a change: a reboot must not
            # depend on cfn-init-data still being there and whole (cloud-init writes it
            # without syncing, and a power cut soon after first boot leaves it empty).
            self._persisted = sourceconfig.remember(self.settings, collect)
        if changed:
            self._source = None
        self.source_config = found

    def _failed(self, message: str) -> bool:
        self._failures += 1
        self._report(message)
        if message != self._last_error:
            LOG.error("%s", message)
        elif self._failures % 20 == 0:
            LOG.error("%s (still failing after %d polls)", message, self._failures)
        self._last_error = message
        return False

    def _recovered(self) -> None:
        if self._failures:
            LOG.info("metadata source answering again after %d failed polls", self._failures)
        self._failures, self._last_error = 0, ""

    def reconfigure(self, settings: Settings) -> None:
        """Use new settings from the next poll on (SIGHUP)."""
        self.settings = settings
        self._load_source_config()
        self._source = None
        if (settings.spread, settings.jitter) != (self.clock.spread, self.clock.jitter):
            self.clock = PollClock(settings.spread, settings.jitter)

    def _load_source_config(self) -> None:
        """Start from the source the settings and files name (see sourceconfig.initial)."""
        self.source_config = sourceconfig.initial(self.settings)
        self._persisted = self.source_config is not None and self.source_config.origin == sourceconfig.LEARNED_ORIGIN

    # ------------------------------------------------------------ timing

    def interval_ceiling(self) -> float:
        """The longest pause between polls: Heat's hint for this source, else the configured interval."""
        if self.source_config is not None and self.source_config.polling_interval:
            return self.source_config.polling_interval
        return self.settings.polling_interval

    def interval(self) -> float:
        """Seconds until the next poll: quick after activity, doubling up to the polling interval.

        Failures before the source has ever answered are retried the same quick way
        (at boot the network or Heat's endpoint may be a moment away). Once it has
        answered, a failure means Heat is down or overloaded: the next poll keeps to
        the steady schedule, so a fleet never polls a struggling Heat harder than
        its interval (polls that time out would otherwise come back every few seconds
        from every server at once).
        """
        ceiling = self.interval_ceiling()
        if self._failures and self.poll_state.last_success_at is not None:  # it has answered before
            return self.clock.wait(ceiling, floor=min(self.settings.min_polling_interval, ceiling))
        steps = self._failures or self._quiet_polls
        quick = self.settings.min_polling_interval * (2 ** min(steps, NO_QUICK_POLLS))
        if quick < ceiling:
            return quick
        if self._after_signal == "quick":
            self._after_signal = "steady"
        return self.clock.wait(ceiling, floor=min(self.settings.min_polling_interval, ceiling))

    def hurry(self, _record: Record | None = None) -> None:
        """A signal was delivered: poll now, for Heat may publish the next deployment as it takes it.

        Where Heat has done so on this server (a change came in the follow-up of an
        earlier signal: the immediate poll, the quick ones after it, or the first
        steady one), keep looking quickly: 2, 6, 14 and 30 s after the signal.
        Elsewhere one poll is all: a fleet update, where every server signals within
        the same half minute and nothing follows, would otherwise add four polls per
        server to Heat's busiest minute. A follow-up that finds nothing clears it.
        """
        self._after_signal = "quick"
        self._quiet_polls = 0 if self._chaining else NO_QUICK_POLLS
        self.wakeup.set()
