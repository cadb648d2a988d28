"""The one place that speaks HTTP for the harness and its client: plain urllib, JSON.

Plain urllib on purpose: the tests must not depend on the OpenStack client libraries
(they live in the service venvs, not the test venv), and it keeps the requests that an
agent would send visible. Only loopback URLs are ever used.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 60.0


@dataclass
class Response:
    """Status, headers and body of one HTTP exchange (errors included)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body.strip() else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class HTTPFailure(RuntimeError):
    """An unexpected status, carrying the response so the test can show it."""

    def __init__(self, method: str, url: str, response: Response) -> None:
        super().__init__(f"{method} {url} -> {response.status}: {response.text[:2000]}")
        self.response = response


def request(method: str, url: str, body: Any = None, token: str | None = None,
            headers: dict[str, str] | None = None, raw: bytes | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> Response:
    """Send one request; never raise for an HTTP status (the caller decides)."""
    hdrs = {"Accept": "application/json"}
    if body is not None:
        raw = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["X-Auth-Token"] = token
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=raw, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers.items()), err.read())


def expect(method: str, url: str, *ok: int, **kwargs: Any) -> Response:
    """`request`, raising HTTPFailure unless the status is one of `ok` (default 2xx)."""
    resp = request(method, url, **kwargs)
    good = resp.status in ok if ok else 200 <= resp.status < 300
    if not good:
        raise HTTPFailure(method, url, resp)
    return resp
