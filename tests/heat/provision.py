"""One-time setup of a harness directory: configs, databases, keys, Keystone data, rings.

Zaqar needs no setup step of its own: its Redis stores start empty and queues are
created on first use.

Idempotent: a marker records a fingerprint of the rendered configs (ports and paths
included). Same fingerprint: nothing to do. Different (another base port, a moved
directory, a changed config): the state is wiped and rebuilt, venvs and logs kept.
"""
from __future__ import annotations

import getpass
import grp
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from . import configs, keystone_admin, services
from . import layout as L
from .layout import Layout

MARKER = ".setup-done"
SETUP_REVISION = "3"  # bump when a setup step changes, so existing harness dirs are set up again
# Tables whose rows Heat deletes and re-creates during stack updates (see autoincrement()).
NO_REUSE_TABLES = ("resource_properties_data", "raw_template")


def fingerprint(lay: Layout) -> str:
    """A hash of everything setup derives its state from."""
    parts = [configs.keystone_conf(lay), configs.heat_conf(lay), configs.proxy_conf(lay),
             configs.compute_conf(lay), configs.zaqar_conf(lay), configs.redis_conf(lay),
             configs.HEAT_POLICY, str(lay.root), str(lay.base_port), SETUP_REVISION]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def is_set_up(lay: Layout) -> bool:
    marker = lay.root / MARKER
    return marker.is_file() and marker.read_text().strip() == fingerprint(lay)


def run(lay: Layout, argv: list[str], name: str) -> None:
    """Run one setup command, logging to log/setup.log; show its tail on failure."""
    lay.logs.mkdir(parents=True, exist_ok=True)
    with open(lay.logfile("setup"), "a") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=lay.root)
    if done.returncode:
        raise services.ServiceError(f"setup step {name} failed ({done.returncode})\n"
                                    f"{services.log_tail(lay, 'setup')}")


def wal(db: Path) -> None:
    """Switch a sqlite database to WAL (persistent) so readers do not block writers."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def setup_keystone(lay: Layout) -> None:
    """Database, fernet and credential keys, bootstrap admin and identity endpoint."""
    manage = [str(lay.heat_venv / "bin" / "keystone-manage"),
              "--config-file", str(lay.etc / "keystone" / "keystone.conf")]
    for sub in ("fernet-keys", "credential-keys"):
        (lay.etc / "keystone" / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    run(lay, manage + ["db_sync"], "keystone db_sync")
    wal(lay.var / "keystone.db")
    owner = ["--keystone-user", getpass.getuser(),
             "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
    run(lay, manage + ["fernet_setup", *owner], "keystone fernet_setup")
    run(lay, manage + ["credential_setup", *owner], "keystone credential_setup")
    run(lay, manage + ["bootstrap", "--bootstrap-password", L.ADMIN_PASSWORD,
                       "--bootstrap-public-url", lay.keystone_url + "/",
                       "--bootstrap-internal-url", lay.keystone_url + "/",
                       "--bootstrap-region-id", "RegionOne"], "keystone bootstrap")


def setup_heat(lay: Layout) -> None:
    """Heat's database."""
    run(lay, [str(lay.heat_venv / "bin" / "heat-manage"), "--config-file",
              str(lay.etc / "heat" / "heat.conf"), "db_sync"], "heat db_sync")
    for table in NO_REUSE_TABLES:
        autoincrement(lay.var / "heat.db", table)
    wal(lay.var / "heat.db")


def autoincrement(db: Path, table: str) -> None:
    """Make sqlite never hand out the id of a deleted row again, as MySQL never does.

    sqlite gives a plain ``INTEGER PRIMARY KEY`` table's deleted last id to the
    next insert. Heat, written for MySQL, deletes and creates resource
    properties rows during an update, and a resource ends up pointing at a row
    that is gone: the update never finishes and GET on the stack answers 404.
    Rebuilding the table with ``AUTOINCREMENT`` (keeping its rows and indexes)
    restores MySQL's behaviour.
    """
    with sqlite3.connect(db) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()[0]
        if "AUTOINCREMENT" in sql:
            return
        indexes = [row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL", (table,))]
        new = re.sub(r"\bid INTEGER NOT NULL", "id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
                     sql.replace(table, f"{table}_new", 1), count=1)
        new = re.sub(r",\s*PRIMARY KEY \(id\)", "", new, count=1)
        conn.executescript(
            f"PRAGMA foreign_keys=OFF; BEGIN; {new}; INSERT INTO {table}_new SELECT * FROM {table}; "
            f"DROP TABLE {table}; ALTER TABLE {table}_new RENAME TO {table}; "
            + "".join(f"{index};" for index in indexes) + " COMMIT;")


def setup_swift(lay: Layout) -> None:
    """One device, one replica rings for object, container and account on loopback."""
    (lay.var / "swift" / "d1").mkdir(parents=True, exist_ok=True)
    builder = str(lay.swift_venv / "bin" / "swift-ring-builder")
    for kind, port in configs.SWIFT_RING_PORTS.items():
        path = str(lay.etc / "swift" / f"{kind}.builder")
        run(lay, [builder, path, "create", "8", "1", "1"], f"{kind} ring create")
        run(lay, [builder, path, "add", f"r1z1-{L.HOST}:{lay.port(port)}/d1", "100"],
            f"{kind} ring add")
        run(lay, [builder, path, "rebalance"], f"{kind} ring rebalance")


def wipe(lay: Layout) -> None:
    """Remove the state of an earlier setup (services must be stopped)."""
    services.stop(lay)
    for path in (lay.etc, lay.var, lay.run):
        shutil.rmtree(path, ignore_errors=True)
    (lay.root / MARKER).unlink(missing_ok=True)


def setup(lay: Layout) -> float:
    """Set the harness up unless already done; return the seconds it took (0 if not)."""
    if is_set_up(lay):
        return 0.0
    start = time.monotonic()
    wipe(lay)
    (lay.var / "redis").mkdir(parents=True)
    configs.write_all(lay)
    setup_keystone(lay)
    setup_heat(lay)
    setup_swift(lay)
    services.start(lay, only=["keystone"])
    try:
        keystone_admin.configure_keystone(lay)
    finally:
        services.stop_one(lay, "keystone")
    (lay.root / MARKER).write_text(fingerprint(lay) + "\n")
    return time.monotonic() - start
