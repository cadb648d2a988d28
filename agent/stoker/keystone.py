"""The one Keystone v3 client: every source and signal that needs a token goes through it.

It logs in with the stack user's id, password and project (docs/protocol.md, "Heat"), keeps the
token and its service catalog, and reuses them until the token is near its end,
so that polling every few seconds costs one login per token lifetime instead of
one per poll. It knows nothing about what the token is for: :func:`session_from`
builds (or reuses) a session from a section's or an item's credentials, and
:func:`token_request` sends one request with the token, logging in again once
when the service answers 401 (docs/protocol.md, "Heat"). Callers turn
:class:`KeystoneError` and ``httpclient.TransportError`` into their own errors.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from . import httpclient, redaction

CREDENTIALS = ("auth_url", "user_id", "password", "project_id")
REFRESH_MARGIN = 300.0   # log in again when less than this many seconds remain...
UNKNOWN_LIFETIME = 300.0  # ...and trust a token without an expiry for this long


class KeystoneError(Exception):
    """Keystone could not give a token or endpoint. The text never holds the password or token."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(redaction.redact(message))
        self.transient = transient
        self.status = status


def v3_url(auth_url: str) -> str:
    """``auth_url`` with any trailing ``/v2.0`` or ``/v3`` (and slashes) replaced by ``/v3``."""
    base = auth_url.strip().rstrip("/")
    for suffix in ("/v2.0", "/v3"):
        if base.endswith(suffix):
            base = base[: -len(suffix)].rstrip("/")
            break
    return base + "/v3"


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch for Keystone's ISO 8601 times (``...Z`` or with an offset)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def token_lifetime(token_body: dict[str, Any], now: float) -> float:
    """Seconds the token is valid for, measured on Keystone's clock when it says when it issued it.

    Using ``expires_at - issued_at`` makes the reuse window immune to a skewed
    guest clock, which is common on freshly booted servers.
    """
    expires = parse_time(token_body.get("expires_at"))
    if expires is None:
        return UNKNOWN_LIFETIME
    issued = parse_time(token_body.get("issued_at"))
    return max(0.0, expires - (issued if issued is not None else now))


def refresh_after(lifetime: float) -> float:
    """How long to reuse a token: until 5 minutes or half its lifetime remain, whichever is later.

    A long token is renewed 5 minutes before it ends; a short one (tests, strict
    clouds) is still used for half of its life rather than not at all.
    """
    return lifetime - min(REFRESH_MARGIN, lifetime / 2)


def find_endpoint(catalog: Any, service_type: str, interface: str = "public",
                  region: str | None = None) -> str | None:
    """The URL of the first matching endpoint in a v3 catalog, or None."""
    for service in catalog if isinstance(catalog, list) else ():
        if not isinstance(service, dict) or service.get("type") != service_type:
            continue
        for endpoint in service.get("endpoints") or ():
            if not isinstance(endpoint, dict) or endpoint.get("interface") != interface:
                continue
            if region and region not in (endpoint.get("region_id"), endpoint.get("region")):
                continue
            if isinstance(endpoint.get("url"), str) and endpoint["url"]:
                return endpoint["url"].rstrip("/")
    return None


class KeystoneSession:
    """A reusable token and catalog for one user and project."""

    def __init__(self, auth_url: str, user_id: str, password: str, project_id: str,
                 region_name: str | None = None, *, timeout: float = httpclient.DEFAULT_TIMEOUT,
                 tls: httpclient.TLSOptions = httpclient.TLSOptions(),
                 clock: Callable[[], float] = time.time) -> None:
        redaction.remember(password)
        self.auth_url = v3_url(auth_url)
        self.user_id = user_id
        self._password = password
        self.project_id = project_id
        self.region_name = region_name or None
        self.timeout = timeout
        self.tls = tls
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._catalog: Any = None
        self._renew_at = 0.0
        self.logins = 0  # how many times this session asked Keystone for a token

    def __repr__(self) -> str:  # never show the password or token
        return f"KeystoneSession({self.auth_url!r}, user_id={self.user_id!r}, project_id={self.project_id!r})"

    def token(self) -> str:
        """A valid token, from the cache while it is fresh enough."""
        return self._fresh()[0]

    def endpoint(self, service_type: str, interface: str = "public", region: str | None = None) -> str:
        """The catalog URL of ``service_type`` (in ``region``, default the session's region)."""
        return self._endpoint_in(self._fresh()[1], service_type, interface, region)

    def token_and_endpoint(self, service_type: str, interface: str = "public") -> tuple[str, str]:
        """A token and the URL of ``service_type`` from the same login, for one request."""
        token, catalog = self._fresh()
        return token, self._endpoint_in(catalog, service_type, interface, None)

    def _endpoint_in(self, catalog: Any, service_type: str, interface: str, region: str | None) -> str:
        region = region or self.region_name
        url = find_endpoint(catalog, service_type, interface, region)
        if url is None:
            where = f" in region {region}" if region else ""
            raise KeystoneError(f"keystone catalog has no {interface} {service_type} endpoint{where}",
                                transient=False)
        return url

    def invalidate(self) -> None:
        """Forget the token (a service answered 401): the next :meth:`token` logs in again."""
        with self._lock:
            self._token = None
            self._catalog = None

    def _fresh(self) -> tuple[str, Any]:
        """The token and its catalog, read together so a concurrent invalidate cannot split them."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._login()
            assert self._token is not None
            return self._token, self._catalog

    def _login(self) -> None:
        started = self._clock()
        response = self._post_auth()
        token = response.header("X-Subject-Token")
        if not token:
            raise KeystoneError(f"keystone at {self.auth_url} answered without an X-Subject-Token header",
                                transient=False, status=response.status)
        redaction.remember(token)
        body = self._token_body(response)
        self._token, self._catalog = token, body.get("catalog")
        self._renew_at = started + refresh_after(token_lifetime(body, started))
        self.logins += 1

    def _post_auth(self) -> httpclient.Response:
        url = self.auth_url + "/auth/tokens"
        payload = {"auth": {
            "identity": {"methods": ["password"],
                         "password": {"user": {"id": self.user_id, "password": self._password}}},
            "scope": {"project": {"id": self.project_id}}}}
        try:
            response = httpclient.request("POST", url, body=json.dumps(payload).encode("utf-8"),
                                          headers={"Content-Type": "application/json",
                                                   "Accept": "application/json"},
                                          timeout=self.timeout, tls=self.tls)
        except httpclient.TransportError as err:
            raise KeystoneError(f"keystone login failed: {err}", transient=err.transient) from None
        if response.status not in (200, 201):
            raise _status_error(url, response)
        return response

    def _token_body(self, response: httpclient.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, dict):
            raise KeystoneError(f"keystone at {self.auth_url} answered with no token object",
                                transient=False, status=response.status)
        return token


def _status_error(url: str, response: httpclient.Response) -> KeystoneError:
    """A clear, redacted error for a refused login."""
    status = response.status
    if status == 401:
        why = "the user id, password or project is wrong, or the stack user was deleted"
    elif status == 403:
        why = "the user may not log in to that project"
    elif status == 404:
        why = "no Keystone v3 API at this auth_url"
    else:
        why = response.text(200)
    return KeystoneError(f"keystone login at {url} refused ({status}): {why}",
                         transient=httpclient.is_transient(status), status=status)


def missing_credentials(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The login keys (``<prefix>auth_url`` ...) that ``values`` leaves unset."""
    return [prefix + key for key in CREDENTIALS if values.get(prefix + key) in (None, "")]


def session_from(values: Mapping[str, Any], prefix: str = "", *, timeout: float,
                 tls: httpclient.TLSOptions, cache: dict[tuple, KeystoneSession] | None = None
                 ) -> KeystoneSession:
    """A session for the credentials in ``values`` (keys ``<prefix>auth_url`` ... ``<prefix>region_name``).

    A source section has bare keys, an item's inputs ``deploy_``-prefixed ones
    (docs/protocol.md, "The inputs Heat adds"). With ``cache``, one session is
    kept per user, project and region, so signals for the same stack share a
    token. Check :func:`missing_credentials` first.
    """
    found = [str(values[prefix + key]) for key in CREDENTIALS]
    region = str(values.get(prefix + "region_name") or "")
    key = (*found, region)
    session = cache.get(key) if cache is not None else None
    if session is None:
        session = KeystoneSession(*found, region or None, timeout=timeout, tls=tls)
        if cache is not None:
            cache[key] = session
    return session


def token_request(session: KeystoneSession, method: str, service_type: str, url_for: Callable[[str], str],
                  *, headers: Mapping[str, str] | None = None, body: bytes | None = None
                  ) -> httpclient.Response:
    """Send ``method url_for(<service's public endpoint>)`` with the session's token, whatever the answer.

    A 401 means the service no longer takes a token Keystone's expiry called
    fresh (revoked, or the service's clock runs ahead): forget it, log in again
    and send once more (docs/protocol.md, "Heat"). A second 401 is the caller's
    to report. Raises :class:`KeystoneError` when no token or endpoint can be had
    and ``httpclient.TransportError`` when the service gave no answer.
    """
    response = _send_with_token(session, method, service_type, url_for, headers, body)
    if response.status == 401:
        session.invalidate()
        response = _send_with_token(session, method, service_type, url_for, headers, body)
    return response


def _send_with_token(session: KeystoneSession, method: str, service_type: str, url_for: Callable[[str], str],
                     headers: Mapping[str, str] | None, body: bytes | None) -> httpclient.Response:
    token, endpoint = session.token_and_endpoint(service_type)
    return httpclient.request(method, url_for(endpoint), headers={**(headers or {}), "X-Auth-Token": token},
                              body=body, timeout=session.timeout, tls=session.tls)
