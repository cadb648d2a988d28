"""The agent daemon (``stoker run``) and the classic-chain dispatcher (``stoker dispatch``).

One process does what upstream spreads over os-collect-config,
os-refresh-config and os-apply-config: learn where to poll, poll, notice a
change, and run the new deployments, with nothing but a function call between
"the metadata changed" and "the hook starts".

The polling interval adapts: right after a change or a delivered signal the
agent polls again within a second (Heat often publishes the next deployment as
soon as it gets a signal), then backs off, doubling, to the configured
``polling_interval``. A failing source backs off the same way and logs only
when its error changes, so an outage does not flood the journal.
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import threading
from pathlib import Path
from typing import Any, Callable

from . import config, hookcgroup, status, transport
from .config import Settings
from .digest import sha256_hex
from .journal import Record
from .metadata import Document, MetadataError, load_document, parse_document
from .runner import limit_agent_memory
from .session import AgentSession, open_session, tls_options

LOG = logging.getLogger("stoker.loop")
SOURCE_ERROR = 6


class Poller:
    """Fetches the metadata, notices change, follows Heat's transport settings, deploys."""

    def __init__(self, settings: Settings, session: AgentSession) -> None:
        self.settings = settings
        self.session = session
        self.transport: transport.Transport | None = None
        self._persisted = False  # whether the state dir holds the transport in use
        self._load_transport()
        self._source: Any = None
        self._validators: dict[str, str] = {}
        self._digest: str | None = None
        self._quiet_polls = 0
        self._failures = 0
        self._last_error = ""
        self.records: list[Record] = []
        self.wakeup = threading.Event()

    # ------------------------------------------------------------ one cycle

    def bootstrap(self) -> None:
        """At first boot, run what cfn-init-data already holds (the journal skips what ran)."""
        if transport.learned(self.settings) is not None:
            return
        document = transport.bootstrap_document(self.settings)
        if document is not None:
            self._deploy(parse_document(document))

    def cycle(self) -> bool:
        """Poll once and deploy what is new; False when the metadata could not be had."""
        self._housekeeping()
        if self.transport is None:
            self._load_transport()
            if self.transport is None:
                return self._failed("no metadata source is configured: no transport in the state, the "
                                    f"config file, {self.settings.os_collect_config} or "
                                    f"{self.settings.cfn_init_data}")
        try:
            content = self._fetch()
        except Exception as err:  # noqa: BLE001 - a source error must never stop the agent
            return self._failed(f"polling {self.transport.describe()} failed: {err}")
        self._recovered()
        if content is None:
            self._quiet_polls += 1
            return True
        try:
            document = load_document(content)
        except MetadataError as err:
            return self._failed(f"metadata from {self.transport.kind}: {err}")
        self._quiet_polls = 0
        self._follow(document)
        self._deploy(document)
        return True

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
            assert self.transport is not None
            self._source = make_source(self.transport.kind, self.transport.settings,
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
        found = transport.choose(collect, "the fetched metadata", self.settings.cfn_metadata_server)
        if found is None:
            LOG.warning("the fetched metadata names no usable transport; still polling %s",
                        self.transport.describe() if self.transport else "nothing")
            return
        changed = self.transport is None or (found.kind, dict(found.settings)) != \
            (self.transport.kind, dict(self.transport.settings))
        if changed and self.transport is not None:
            LOG.info("metadata transport changed: now polling %s", found.kind)
        if changed or not self._persisted:
            # Persisted at the first answer too, not only on a change: a reboot must not
            # depend on cfn-init-data still being there and whole (cloud-init writes it
            # without syncing, and a power cut soon after first boot leaves it empty).
            self._persisted = transport.remember(self.settings, collect)
        if changed:
            self._source = None
        self.transport = found

    def _failed(self, message: str) -> bool:
        self._failures += 1
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
        self._load_transport()
        self._source = None

    def _load_transport(self) -> None:
        """Start from the transport the settings and files name (see transport.initial)."""
        self.transport = transport.initial(self.settings)
        self._persisted = self.transport is not None and self.transport.origin == transport.LEARNED_ORIGIN

    # ------------------------------------------------------------ timing

    def interval(self) -> float:
        """Seconds until the next poll: quick after activity, doubling up to the polling interval."""
        ceiling = self.settings.polling_interval
        if self.transport is not None and self.transport.polling_interval:
            ceiling = self.transport.polling_interval
        steps = self._failures or self._quiet_polls
        return min(ceiling, self.settings.min_polling_interval * (2 ** min(steps, 20)))

    def hurry(self, _record: Record | None = None) -> None:
        """Poll again soon: a signal was delivered, so Heat may publish the next deployment."""
        self._quiet_polls = 0
        self.wakeup.set()


# ------------------------------------------------------------------ daemon

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
        settings = self.load_settings()
        limit_agent_memory(settings.memory_limit)
        with open_session(settings, on_delivered=lambda r: self.poller and self.poller.hurry(r)) as session:
            self.poller = poller = Poller(settings, session)
            poller.records.extend(session.recovered)
            self._bootstrap_contained(poller)
            if once:
                fetched = poller.cycle()
                session.wait_for_signals(settings.signal_wait)
                return status.exit_code(poller.records) or (0 if fetched else SOURCE_ERROR)
            self._install_handlers()
            LOG.info("polling %s every %gs at most; %s",
                     poller.transport.describe() if poller.transport else "nothing yet",
                     settings.polling_interval, _hook_isolation())
            splay = poller.transport.splay if poller.transport and poller.transport.splay else settings.splay
            self._sleep(poller, random.uniform(0, splay) if splay else 0)
            while not self.stopping:
                self._maybe_reload(session)
                self._cycle_contained(poller)
                poller.records.clear()  # only --once reports them; the journal keeps the history
                self._sleep(poller, poller.interval() if not self._errors else
                            min(settings.polling_interval, 2.0 ** min(self._errors, 6)))
            LOG.info("stopping")
        return status.OK

    def _cycle_contained(self, poller: "Poller") -> None:
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

    def _bootstrap_contained(self, poller: "Poller") -> None:
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
        self.poller.reconfigure(settings)
        LOG.info("settings reloaded from %s", settings.config_file or "defaults")


def _hook_isolation() -> str:
    """How hooks are stopped on timeout here, for the start-up log line."""
    probe = hookcgroup.HookCgroup.create("probe")
    mode = hookcgroup.describe_mode(probe)
    if probe is not None:
        probe.remove()
    return mode


# ------------------------------------------------------------------ dispatch

def dispatch_files(settings: Settings, env: dict[str, str] | None = None) -> list[Path]:
    """The documents the classic chain hands over: ``$OS_CONFIG_FILES``, else ``$HEAT_SHELL_CONFIG``."""
    env = dict(os.environ) if env is None else env
    listed = [Path(p) for p in env.get("OS_CONFIG_FILES", "").split(":") if p]
    return listed or [settings.shell_config]


def dispatch(settings: Settings) -> int:
    """Run the deployments of the classic chain's files.

    Exit 0 once every deployment is recorded and signalled (failures are
    Heat's news, not os-collect-config's); 3 while signals are still pending,
    so that os-collect-config calls again and they are retried.
    """
    documents = []
    for path in dispatch_files(settings):
        try:
            documents.append(load_document(path.read_bytes()))
        except FileNotFoundError:
            continue
        except (OSError, MetadataError) as err:
            LOG.error("cannot dispatch %s: %s", path, err)
    with open_session(settings) as session:
        records = list(session.recovered)
        for document in documents:
            records.extend(session.deployer.deploy(document))
        delivered = session.wait_for_signals(settings.signal_wait)
    return status.OK if delivered else status.PENDING


# ------------------------------------------------------------------ commands

def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``run`` and ``dispatch``."""
    run = commands.add_parser("run", parents=[common], help="poll the metadata and apply what is new")
    run.add_argument("--once", action="store_true", help="one full cycle, then exit")
    run.add_argument("--signal-wait", type=float, metavar="SECONDS", default=None,
                     help="with --once: how long to wait for signals before exiting (default 60)")
    run.set_defaults(func=cmd_run)
    disp = commands.add_parser("dispatch", parents=[common],
                               help="run the deployments in $OS_CONFIG_FILES (classic chain)")
    disp.set_defaults(func=cmd_dispatch)


def cmd_run(args: argparse.Namespace, _settings: Settings) -> int:
    return Daemon(args.load_settings).run(args.once)


def cmd_dispatch(_args: argparse.Namespace, settings: Settings) -> int:
    return dispatch(settings)
