"""The fleet benchmark (``python -m bench fleet``): N servers on a real Heat, stoker against upstream.

  cli        the command line and the order of the runs    scenario  create, update, idle
  cloud      the harness: requests and CPU on Heat's side  agents    one agent per server
  report     the table                                     fleet.yaml  the stack
"""
from .cli import main

__all__ = ["main"]
