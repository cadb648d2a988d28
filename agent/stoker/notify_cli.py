"""``heat-config-notify``: upstream's notifier interface, with stoker's transports.

    heat-config-notify <deployed>/<id>.json < signal.json

Reads the deployment item from the file and the payload from stdin, trims it
to Heat's size limit, and delivers it with the item's signal transport,
retrying transient failures with backoff for up to ``--retry-for`` seconds.
Unlike upstream, the exit status says whether Heat got it: 0 delivered (or
nothing owed), 1 not delivered, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from . import logs, payload, redaction
from .signals import NONE, SendContext, SignalError, send, transport_of
from .signals.outbox import backoff

LOG = logging.getLogger("stoker.notify")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="heat-config-notify",
                                     description="Signal a deployment's result to Heat.")
    parser.add_argument("item", help="the deployment item, usually <deployed>/<id>.json")
    parser.add_argument("--retry-for", type=float, default=60.0, metavar="SECONDS",
                        help="keep retrying transient failures this long (default 60)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    logs.setup()
    try:
        item = json.loads(Path(args.item).read_text(encoding="utf-8"))
        body = json.loads(sys.stdin.read() or "{}")
    except (OSError, ValueError) as err:
        LOG.error("cannot read the item or the signal: %s", err)
        return 2
    if not isinstance(item, dict) or not isinstance(body, dict):
        LOG.error("the item and the signal must both be JSON objects")
        return 2
    inputs = {i["name"]: i.get("value") for i in item.get("inputs") or []
              if isinstance(i, dict) and isinstance(i.get("name"), str)}
    redaction.remember_secret_fields(item.get("inputs"))
    return deliver(transport_of(inputs), inputs, payload.fit(body), args.retry_for,
                   SendContext(timeout=args.timeout))


def deliver(transport: str, inputs: dict, body: dict, retry_for: float, context: SendContext) -> int:
    """Send with retries; the exit status of the command."""
    if transport == NONE:
        LOG.info("the deployment asks for no signal (NO_SIGNAL): nothing to send")
        return 0
    data = json.dumps(body).encode("utf-8")
    deadline = time.monotonic() + retry_for
    attempt = 0
    while True:
        attempt += 1
        try:
            send(transport, inputs, data, context)
            LOG.info("signal delivered (%s, attempt %d)", transport, attempt)
            return 0
        except SignalError as err:
            delay = backoff(attempt)
            if not err.transient or time.monotonic() + delay > deadline:
                LOG.error("signal not delivered (%s): %s", transport, redaction.redact(str(err)))
                return 1
            LOG.warning("signal not delivered (attempt %d), retrying in %.1fs: %s", attempt, delay,
                        redaction.redact(str(err)))
            time.sleep(delay)


if __name__ == "__main__":
    sys.exit(main())
