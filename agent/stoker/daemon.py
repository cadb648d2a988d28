"""The agent daemon (``stoker run``): poll until SIGTERM, reload on SIGHUP, outlive any one poll.

It frames the poller (``poller.py``) with what a long-running process needs:
a session holding the state directory, the bootstrap from ``cfn-init-data``,
signal handlers, a start-up splay, and containment, so that nothing one poll
does stops the agent (docs/architecture.md, "Never dying").
"""
from __future__ import annotations

import logging
import signal
from typing import Any, Callable

from . import config, hookcgroup, pacing, status
from .config import Settings
from .exitcodes import OK, SOURCE_ERROR
from .journal import Record
from .poller import Poller
from .runner import limit_agent_memory
from .session import AgentSession, follow_with_metrics, open_session

LOG = logging.getLogger("stoker.daemon")


class Daemon:
    """``stoker run``: poll until SIGTERM; SIGHUP reloads the config file."""

    def __init__(self, load_settings: Callable[[], Settings]) -> None:
        self.load_settings = load_settings
        self.stopping = False
        self.reload = False
        self.poller: Poller | None = None
        self._errors = 0
        self._last_error = ""

    def run(self, once: bool) -> int:
        """Poll once (``--once``) or until stopped; the exit code (see ``exitcodes.py``)."""
        settings = self.load_settings()
        limit_agent_memory(settings.memory_limit)
        with open_session(settings, on_delivered=self._hurry) as session:
            self.poller = poller = Poller(settings, session)
            poller.records.extend(session.recovered)
            self._bootstrap_contained(poller)
            if once:
                return self._once(poller, session, settings)
            self._forever(poller, session, settings)
        return OK

    def _once(self, poller: Poller, session: AgentSession, settings: Settings) -> int:
        """One full cycle: what it deployed decides the code, else whether the metadata came."""
        fetched = poller.cycle()
        session.wait_for_signals(settings.signal_wait)
        return status.exit_code(poller.records) or (OK if fetched else SOURCE_ERROR)

    def _forever(self, poller: Poller, session: AgentSession, settings: Settings) -> None:
        """Poll until SIGTERM or SIGINT, after a random splay so that servers do not poll in step."""
        self._install_handlers()
        LOG.info("polling %s every %gs at most; %s", _where(poller), poller.interval_ceiling(),
                 _hook_isolation())
        splay = poller.source_config.splay if poller.source_config and poller.source_config.splay else settings.splay
        self._sleep(poller, pacing.uniform(0, splay) if splay else 0)
        while not self.stopping:
            self._maybe_reload(session)
            self._cycle_contained(poller)
            poller.records.clear()  # only --once reports them; the journal keeps the history
            self._sleep(poller, self._pause(poller, settings))
        LOG.info("stopping")

    def _pause(self, poller: Poller, settings: Settings) -> float:
        """The poller's interval, or a doubling backoff while polls fail unexpectedly."""
        if not self._errors:
            return poller.interval()
        return min(settings.polling_interval, 2.0 ** min(self._errors, 6))

    def _hurry(self, record: Record) -> None:
        """A signal was delivered: let the poller look for Heat's next deployment soon."""
        if self.poller:
            self.poller.hurry(record)

    def _cycle_contained(self, poller: Poller) -> None:
        """One poll; an unexpected error is logged (once while it repeats) and the daemon goes on."""
        try:
            poller.cycle()
        except Exception as err:  # noqa: BLE001 - the daemon must outlive anything one poll does
            message = f"{type(err).__name__}: {err}"
            if message != self._last_error:
                LOG.exception("polling failed unexpectedly; the agent keeps running")
            self._last_error = message
            self._errors += 1
        else:
            self._errors, self._last_error = 0, ""

    def _bootstrap_contained(self, poller: Poller) -> None:
        try:
            poller.bootstrap()
        except Exception:  # noqa: BLE001 - a bad bootstrap file must not stop the agent
            LOG.exception("running the bootstrap metadata failed; polling anyway")

    def _sleep(self, poller: Poller, seconds: float) -> None:
        poller.wakeup.wait(seconds)
        poller.wakeup.clear()

    def _install_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_term(self, signum: int, _frame: Any) -> None:
        LOG.info("received %s: finishing", signal.Signals(signum).name)
        self.stopping = True
        if self.poller:
            self.poller.wakeup.set()

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self.reload = True
        if self.poller:
            self.poller.wakeup.set()

    def _maybe_reload(self, session: AgentSession) -> None:
        if not self.reload or self.poller is None:
            return
        self.reload = False
        try:
            settings = self.load_settings()
        except config.ConfigError as err:
            LOG.error("reload failed, keeping the old settings: %s", err)
            return
        from .deployer import Deployer

        session.deployer = Deployer(settings, session.journal, session.outbox, settings.hook_environment)
        session.metrics = follow_with_metrics(session.journal, settings)
        self.poller.reconfigure(settings)
        LOG.info("settings reloaded from %s", settings.config_file or "defaults")


def _where(poller: Poller) -> str:
    """The source and its endpoint (secrets masked), for the start-up log line."""
    source = poller.source_config
    if source is None:
        return "nothing yet (no metadata source is configured)"
    return f"{source.describe()} at {source.endpoint() or 'its default location'}"


def _hook_isolation() -> str:
    """How hooks are stopped on timeout here, for the start-up log line."""
    probe = hookcgroup.HookCgroup.create("probe")
    mode = hookcgroup.describe_mode(probe)
    if probe is not None:
        probe.remove()
    return mode
