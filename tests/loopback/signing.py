"""Signatures the loopback servers check and the test helpers create: AWS v2 and Swift TempURL.

Kept apart from the servers so that a test can build a correctly (or deliberately wrongly)
signed URL without starting anything, and so that both sides of a check use one definition.
Written from docs/protocol.md, "cfn" (AWS signature version 2) and "Swift TempURL".
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Mapping

V2_METHODS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def aws_quote(text: str) -> str:
    """Percent-encode everything but A-Z a-z 0-9 - _ . ~ (AWS v2 canonical form)."""
    return urllib.parse.quote(text, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Every parameter but Signature, sorted by name, encoded and joined with '&'."""
    return "&".join(f"{aws_quote(k)}={aws_quote(v)}"
                    for k, v in sorted(params.items()) if k != "Signature")


def v2_string_to_sign(verb: str, host: str, path: str, params: Mapping[str, str]) -> str:
    return "\n".join((verb.upper(), host, path, canonical_query(params)))


def v2_signature(secret: str, verb: str, host: str, path: str, params: Mapping[str, str]) -> str:
    """base64(HMAC(secret, string to sign)) with the digest SignatureMethod names."""
    digest = V2_METHODS[params.get("SignatureMethod", "HmacSHA256")]
    mac = hmac.new(secret.encode("utf-8"),
                   v2_string_to_sign(verb, host, path, params).encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def v2_signature_matches(secret: str, verb: str, host: str, path: str,
                         params: Mapping[str, str]) -> bool:
    if params.get("SignatureMethod", "HmacSHA256") not in V2_METHODS:
        return False
    expected = v2_signature(secret, verb, host, path, params)
    return hmac.compare_digest(expected, params.get("Signature", ""))


def v2_timestamp(when: float | None = None) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(time.time() if when is None else when))


def parse_v2_timestamp(text: str) -> float:
    """Seconds since the epoch for a Timestamp parameter (UTC); ValueError when malformed."""
    import calendar
    return float(calendar.timegm(time.strptime(text, TIMESTAMP_FORMAT)))


def signed_v2_url(base_url: str, verb: str, params: Mapping[str, str], access: str,
                  secret: str, method: str = "HmacSHA256") -> str:
    """`base_url` (scheme://host:port/path) with `params` plus a v2 signature as query."""
    split = urllib.parse.urlsplit(base_url)
    full = {**params, "AWSAccessKeyId": access, "SignatureVersion": "2", "SignatureMethod": method}
    full["Signature"] = v2_signature(secret, verb, split.netloc, split.path or "/", full)
    return f"{split.scheme}://{split.netloc}{split.path}?{urllib.parse.urlencode(full)}"


TEMPURL_DIGESTS = {40: hashlib.sha1, 64: hashlib.sha256, 128: hashlib.sha512}
TEMPURL_NAMED = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def tempurl_signature(key: str, method: str, expires: int, path: str,
                      digest: str = "sha256") -> str:
    """Hex HMAC of "METHOD\\n<expires>\\n<path>" with the account's TempURL key."""
    body = f"{method.upper()}\n{int(expires)}\n{path}".encode("utf-8")
    return hmac.new(key.encode("utf-8"), body, TEMPURL_NAMED[digest]).hexdigest()


def tempurl_signature_matches(keys: list[str], method: str, expires: int, path: str,
                              signature: str) -> bool:
    """True when `signature` (hex, or "<digest>:<base64>") signs this request with any key."""
    body = f"{method.upper()}\n{int(expires)}\n{path}".encode("utf-8")
    decoded = _decode_tempurl_signature(signature)
    if decoded is None:
        return False
    digest, raw = decoded
    return any(hmac.compare_digest(hmac.new(k.encode("utf-8"), body, digest).digest(), raw)
               for k in keys)


def _decode_tempurl_signature(signature: str):  # -> tuple[digest constructor, bytes] | None
    if ":" in signature:
        name, _, b64 = signature.partition(":")
        if name not in TEMPURL_NAMED:
            return None
        try:
            return TEMPURL_NAMED[name], base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except ValueError:
            return None
    digest = TEMPURL_DIGESTS.get(len(signature))
    if digest is None:
        return None
    try:
        return digest, bytes.fromhex(signature)
    except ValueError:
        return None


def tempurl(base_url: str, path: str, key: str, method: str, expires: int,
            digest: str = "sha256") -> str:
    """A full TempURL: base_url (scheme://host:port) + path + temp_url_sig/expires."""
    sig = tempurl_signature(key, method, expires, urllib.parse.unquote(path), digest)
    query = urllib.parse.urlencode({"temp_url_sig": sig, "temp_url_expires": str(int(expires))})
    return f"{base_url}{path}?{query}"
