"""Make Keystone's and Heat's sqlite databases survive concurrent writers.

Runs inside the service processes (imported by the runners in this directory, with the
service venv's SQLAlchemy). With several stacks at once, deferred sqlite transactions
upgrade from read to write locks and fail at once with "database is locked" instead of
waiting. Beginning every transaction with BEGIN IMMEDIATE takes the write lock up front,
so the connection's `timeout` makes writers queue. oslo.db emits its own BEGIN unless the
connection is marked as already in a transaction, so mark it the way oslo.db checks.
WAL mode is set once, on the database file, by the setup step.
"""
from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import Engine


def _begin_immediate(conn) -> None:
    """Open the transaction with the write lock already held (sqlite only)."""
    if conn.engine.dialect.name != "sqlite" or "in_transaction" in conn.info:
        return
    conn.execute(text("BEGIN IMMEDIATE"))
    conn.info["in_transaction"] = True


def install() -> None:
    """Register the listener for every engine created from now on."""
    if not event.contains(Engine, "begin", _begin_immediate):
        event.listen(Engine, "begin", _begin_immediate)
