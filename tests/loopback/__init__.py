"""Loopback stand-ins for heat-api-cfn, Swift (TempURL), Keystone v3, Heat and Zaqar.

Each server runs in a thread on 127.0.0.1, checks signatures and tokens for real, records
every request, can be told to fail, and calls hooks when a signal arrives. `Cloud` wires
them together; `fixtures` has the pytest fixtures; `python -m tests.loopback` runs them all
for agents in other processes (see `__main__`), and `client.LoopbackClient` drives that
process from yet another one.
"""
from .base import Fault, LoopbackServer, Request, Response, Signal
from .cfn import CfnServer
from .cloud import Cloud
from .heat import HeatServer
from .keystone import KeystoneServer
from .swift import SwiftServer
from .tokens import TokenStore
from .zaqar import ZaqarServer

__all__ = ["Cloud", "CfnServer", "Fault", "HeatServer", "KeystoneServer", "LoopbackServer",
           "Request", "Response", "Signal", "SwiftServer", "TokenStore", "ZaqarServer"]
