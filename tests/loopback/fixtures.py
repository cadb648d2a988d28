"""pytest fixtures that start loopback servers for one test and stop them afterwards.

Import them into a conftest with `from tests.loopback.fixtures import *`. Each fixture is
function-scoped, so faults, records and hooks never leak from one test into the next.
`cloud` gives all five servers wired together (see `Cloud`); the single-server fixtures are
for tests that exercise one protocol.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cfn import CfnServer
from .cloud import Cloud
from .heat import HeatServer
from .keystone import KeystoneServer
from .swift import SwiftServer
from .tokens import TokenStore
from .zaqar import ZaqarServer

__all__ = ["cfn_server", "swift_server", "keystone_server", "heat_server", "zaqar_server",
           "loopback_tokens", "cloud"]


@pytest.fixture
def loopback_tokens() -> TokenStore:
    """The token store shared by keystone_server, heat_server and zaqar_server in one test."""
    return TokenStore()


@pytest.fixture
def cfn_server() -> Iterator[CfnServer]:
    server = CfnServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def swift_server() -> Iterator[SwiftServer]:
    server = SwiftServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def keystone_server(loopback_tokens: TokenStore) -> Iterator[KeystoneServer]:
    server = KeystoneServer(tokens=loopback_tokens).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def heat_server(loopback_tokens: TokenStore) -> Iterator[HeatServer]:
    server = HeatServer(tokens=loopback_tokens).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def zaqar_server(loopback_tokens: TokenStore) -> Iterator[ZaqarServer]:
    server = ZaqarServer(tokens=loopback_tokens).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    """Keystone, Heat, cfn, Swift and Zaqar with one project, user, stack and catalog."""
    with Cloud() as running:
        yield running
