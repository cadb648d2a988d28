"""``heat-config-notify``: upstream's notifier interface, with stoker's transports.

    heat-config-notify <deployed>/<id>.json < signal.json

Reads the deployment item from the file and the payload from stdin, trims it
to Heat's size limit, and delivers it with the item's signal transport,
retrying transient failures for up to ``--retry-for`` seconds, after the
wait the endpoint's ``Retry-After`` asks for, or with backoff when it names none.
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

from . import jsontools, logs, payload, redaction
from .metadata import parse_item
from .signals import NONE, SendContext, SignalError, send, transport_of
from .signals.outbox import retry_delay

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
        item = jsontools.loads_pruned(Path(args.item).read_bytes())[0]
        body = jsontools.loads_pruned(sys.stdin.buffer.read() or b"{}")[0]
    except (OSError, jsontools.JSONInputError) as err:
        LOG.error("cannot read the item or the signal: %s", err)
        return 2
    if not isinstance(item, dict) or not isinstance(body, dict):
        LOG.error("the item and the signal must both be JSON objects")
        return 2
    inputs = parse_item(item).inputs
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
            delay = retry_delay(attempt, err)
            if not err.transient or time.monotonic() + delay > deadline:
                LOG.error("signal not delivered (%s): %s", transport, redaction.redact(str(err)))
                return 1
            LOG.warning("signal not delivered (attempt %d), retrying in %.1fs%s: %s", attempt, delay,
                        " as the endpoint asked" if err.retry_after is not None else "",
                        redaction.redact(str(err)))
            time.sleep(delay)


if __name__ == "__main__":
    sys.exit(main())
