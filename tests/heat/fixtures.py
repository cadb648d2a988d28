"""pytest fixtures: one real Heat per test session.

`heat_harness` installs (if needed), sets up (if needed) and starts the harness once per
session, and stops at the end the services it started itself (a harness a developer
started by hand keeps running). A failure to bring it up is a test error, not a skip:
the only way to skip the real-Heat tier is STOKER_SKIP_REALHEAT=1.
Tests that use these fixtures are marked `@pytest.mark.realheat`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from . import install, provision, services
from .client import HeatClient
from .layout import Layout


def _skip_requested() -> bool:
    return os.environ.get("STOKER_SKIP_REALHEAT", "") not in ("", "0")


@pytest.fixture(scope="session")
def heat_harness() -> Iterator[Layout]:
    """A running Heat + Keystone + Swift on 127.0.0.1 (see tests/heat/layout.py)."""
    if _skip_requested():
        pytest.skip("real-Heat tests skipped: STOKER_SKIP_REALHEAT is set")
    lay = Layout.from_env()
    install.install(lay)
    provision.setup(lay)
    started = services.start(lay)
    try:
        yield lay
    finally:
        for name in reversed(started):
            services.stop_one(lay, name)


@pytest.fixture(scope="session")
def heat_client(heat_harness: Layout) -> HeatClient:
    """The demo user's Heat client (member + heat_stack_owner of project demo)."""
    return HeatClient.login(heat_harness, "demo")


@pytest.fixture(scope="session")
def heat_admin(heat_harness: Layout) -> HeatClient:
    """The admin user's Heat client (for signalling stuck deployments by hand)."""
    return HeatClient.login(heat_harness, "admin")
