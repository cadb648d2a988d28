"""Fixtures every test tier can use: the loopback Heat, Keystone, Swift and Zaqar servers."""
from tests.loopback.fixtures import *  # noqa: F401,F403
