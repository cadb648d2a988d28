"""Keystone sessions for the token-based signal transports, cached per user and project."""
from __future__ import annotations

from typing import Any, Mapping

from .. import redaction
from . import SignalError

_NEEDED = ("deploy_auth_url", "deploy_user_id", "deploy_password", "deploy_project_id")


def session_for(inputs: Mapping[str, Any], context) -> Any:
    """The (reused) Keystone session for the item's stack-user credentials."""
    from ..keystone import KeystoneSession  # imported lazily: only token transports need it

    missing = [name for name in _NEEDED if not inputs.get(name)]
    if missing:
        raise SignalError(f"signal needs the inputs {', '.join(missing)}", transient=False)
    redaction.remember(inputs["deploy_password"])
    key = tuple(str(inputs.get(n)) for n in _NEEDED) + (str(inputs.get("deploy_region_name") or ""),)
    session = context.sessions.get(key)
    if session is None:
        session = KeystoneSession(inputs["deploy_auth_url"], inputs["deploy_user_id"],
                                  inputs["deploy_password"], inputs["deploy_project_id"],
                                  inputs.get("deploy_region_name") or None,
                                  timeout=context.timeout, tls=context.tls)
        context.sessions[key] = session
    return session


def token_and_endpoint(inputs: Mapping[str, Any], service_type: str, context) -> tuple[Any, str, str]:
    """A token and the public endpoint of ``service_type``, as a :class:`SignalError` on failure."""
    session = session_for(inputs, context)
    try:
        return session, session.token(), session.endpoint(service_type, interface="public").rstrip("/")
    except SignalError:
        raise
    except Exception as err:  # noqa: BLE001 - Keystone's errors become signal errors
        raise SignalError(f"keystone: {redaction.redact(str(err))}",
                          transient=getattr(err, "transient", True),
                          status=getattr(err, "status", None)) from None
