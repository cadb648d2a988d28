"""AWS signature version 2 (HmacSHA256), the signing heat-api-cfn checks (docs/protocol.md, "cfn").

Pure functions, so the signing can be checked against a hand-built string in
tests and reused by anything that must talk to heat-api-cfn. The host is
signed exactly as the URL spells it (with its port when the URL has one),
because the server signs the ``Host`` header it receives, which is built from
the same URL.
"""
from __future__ import annotations

import base64
import urllib.parse
from typing import Mapping

from .digest import hmac_sha256

SIGNATURE_METHOD = "HmacSHA256"
SIGNATURE_VERSION = "2"


def percent_encode(text: str) -> str:
    """Percent-encode UTF-8 ``text`` leaving only ``A-Z a-z 0-9 - _ . ~`` as they are."""
    return urllib.parse.quote(text, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Every parameter but ``Signature``, sorted by name in byte order, encoded, joined by '&'."""
    names = sorted((name for name in params if name != "Signature"), key=lambda n: n.encode("utf-8"))
    return "&".join(f"{percent_encode(name)}={percent_encode(str(params[name]))}" for name in names)


def string_to_sign(method: str, url: str, params: Mapping[str, str]) -> str:
    """``METHOD\\nhost[:port]\\npath\\ncanonical query`` for ``url`` (its own query is ignored)."""
    split = urllib.parse.urlsplit(url)
    host = split.netloc.rpartition("@")[2]  # user info is never part of the Host header
    return "\n".join((method.upper(), host, split.path or "/", canonical_query(params)))


def signature(secret_key: str, text: str) -> str:
    """base64(HMAC-SHA256(secret_key, text))."""
    mac = hmac_sha256(secret_key.encode("utf-8"), text.encode("utf-8"))
    return base64.b64encode(mac).decode("ascii")


def signed_params(method: str, url: str, params: Mapping[str, str], access_key_id: str,
                  secret_key: str) -> dict[str, str]:
    """``params`` plus the access key, version, method and the ``Signature`` over all of them."""
    signed = {str(k): str(v) for k, v in params.items() if k != "Signature"}
    signed.update(AWSAccessKeyId=access_key_id, SignatureVersion=SIGNATURE_VERSION,
                  SignatureMethod=SIGNATURE_METHOD)
    signed["Signature"] = signature(secret_key, string_to_sign(method, url, signed))
    return signed


def signed_url(method: str, url: str, params: Mapping[str, str], access_key_id: str,
               secret_key: str) -> str:
    """``url`` with its own query parameters, ``params`` and a v2 signature as the query string.

    Parameters already in ``url``'s query are signed too, since the server sees them.
    """
    split = urllib.parse.urlsplit(url)
    merged = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    merged.update(params)
    signed = signed_params(method, url, merged, access_key_id, secret_key)
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in signed.items())
    return urllib.parse.urlunsplit((split.scheme, split.netloc, split.path or "/", query, ""))
