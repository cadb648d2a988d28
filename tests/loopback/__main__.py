"""Run the loopback cloud in its own process, for agents running elsewhere (chroots, VMs, benchmarks).

Usage:

    python -m tests.loopback --state-dir DIR [--host 127.0.0.1]
        [--keystone-port N] [--heat-port N] [--cfn-port N] [--swift-port N] [--zaqar-port N]
        [--token-lifetime SECONDS] [--auth-ttl SECONDS]

Ports default to 0 (ephemeral). Once every server listens, DIR/loopback.json is written
(atomically; wait for it to appear) with:

    servers          {"keystone"|"heat"|"cfn"|"swift"|"zaqar": {"url", "port"}}
    auth_url, region, project {id, name}, user {id, name, password}, ec2 {access, secret},
    swift {account, key, metadata_container, signal_container}, stack {name, id},
    server_resource, os_collect_config {POLL_SERVER_CFN|...: the section Heat would write},
    pid

The process serves until SIGTERM or SIGINT, then stops the servers and removes the file.

Other processes drive it through admin routes under /_test/ on each server (or with
`tests.loopback.client.LoopbackClient.from_state_dir(DIR)`, which wraps them):

    every server  GET|DELETE /_test/requests, GET|DELETE /_test/signals,
                  POST /_test/faults {"status"|"reset"|"delay", "count", "method", "path"},
                  DELETE /_test/faults
    cfn           PUT /_test/metadata/<stack>/<resource>, POST /_test/signal-url {stack, resource},
                  POST /_test/credentials
    swift         PUT|GET /_test/objects/<account>/<container>/<object>, POST /_test/tempurl,
                  POST /_test/signal-url
    heat          PUT /_test/metadata/<project>/<stack>/<resource>,
                  POST /_test/resources/<project>/<stack>/<resource>
    zaqar         POST|GET /_test/queues/<project>/<queue>/messages,
                  POST /_test/signal-queues/<project>/<queue>
    keystone      POST /_test/tokens/expire, POST /_test/tokens/revoke

Servers bind the given 127.x address only; admin routes need no credentials for that reason.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from .client import STATE_FILE
from .cloud import Cloud

SERVER_NAMES = ("keystone", "heat", "cfn", "swift", "zaqar")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.loopback",
                                     description="Loopback Keystone/Heat/cfn/Swift/Zaqar for agent tests.")
    parser.add_argument("--state-dir", required=True, type=Path,
                        help=f"directory for {STATE_FILE} (ports and credentials)")
    parser.add_argument("--host", default="127.0.0.1", help="a 127.x address to bind")
    for name in SERVER_NAMES:
        parser.add_argument(f"--{name}-port", type=int, default=0, help=f"{name} port (0: ephemeral)")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="Keystone token lifetime, s")
    parser.add_argument("--auth-ttl", type=float, default=900.0, help="cfn signal URL lifetime, s")
    return parser.parse_args(argv)


def write_state(state_dir: Path, state: dict) -> Path:
    """Write the state file atomically, so a reader never sees half of it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    target = state_dir / STATE_FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(temporary, target)
    return target


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ports = {name: getattr(args, f"{name}_port") for name in SERVER_NAMES}
    cloud = Cloud(args.host, ports, token_lifetime=args.token_lifetime, auth_ttl=args.auth_ttl)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with cloud:
        target = write_state(args.state_dir, {**cloud.state(), "pid": os.getpid()})
        print(f"loopback cloud serving; state in {target}", flush=True)
        try:
            while not stop.wait(1.0):
                pass
        finally:
            target.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
