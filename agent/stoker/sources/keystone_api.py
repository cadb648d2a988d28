"""What the sources behind Keystone share (POLL_SERVER_HEAT, ZAQAR_MESSAGE): logging in
from Heat's section, GETs with a reused token, and what 401/403/404 mean there."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .. import httpclient, redaction
from ..keystone import KeystoneError, KeystoneSession
from . import SourceError, http_get, require, status_error

CREDENTIAL_KEYS = ("auth_url", "user_id", "password", "project_id")


def open_session(kind: str, settings: Mapping[str, Any], *keys: str, timeout: float,
                 tls: httpclient.TLSOptions) -> tuple[dict[str, Any], KeystoneSession]:
    """The section's required values (the credentials, then ``keys``) and a session for them;
    the password is masked in every log line from now on."""
    found = require(kind, settings, *CREDENTIAL_KEYS, *keys)
    redaction.remember(found["password"])
    session = KeystoneSession(found["auth_url"], found["user_id"], found["password"], found["project_id"],
                              settings.get("region_name") or None, timeout=timeout, tls=tls)
    return found, session


def token_get(kind: str, session: KeystoneSession, service: str, url_for: Callable[[str], str], *,
              headers: Mapping[str, str] | None = None, timeout: float,
              tls: httpclient.TLSOptions) -> httpclient.Response:
    """GET ``url_for(<service's endpoint>)`` with the session's token; a 401 means the token
    died early, so log in again and try once more."""
    response = _get(kind, session, service, url_for, headers, timeout, tls)
    if response.status == 401:
        session.invalidate()
        response = _get(kind, session, service, url_for, headers, timeout, tls)
    return response


def _get(kind: str, session: KeystoneSession, service: str, url_for: Callable[[str], str],
         headers: Mapping[str, str] | None, timeout: float, tls: httpclient.TLSOptions) -> httpclient.Response:
    try:
        token = session.token()
        url = url_for(session.endpoint(service))
    except KeystoneError as err:
        raise SourceError(f"{kind}: {err}", transient=err.transient) from None
    all_headers = {"X-Auth-Token": token, "Accept": "application/json", **(headers or {})}
    return http_get(kind, url, headers=all_headers, timeout=timeout, tls=tls)


def keystone_status_error(kind: str, what: str, response: httpclient.Response, *,
                          forbidden: str, missing: str) -> SourceError:
    """:func:`status_error` for a Keystone-authenticated API, saying what 401/403/404 mean there."""
    reasons = {401: "token refused even after a fresh login", 403: forbidden, 404: missing}
    return status_error(kind, what, response, reasons.get(response.status, ""))
