"""SHA-256 and HMAC-SHA256 without loading OpenSSL into the daemon.

``hashlib`` and ``hmac`` load OpenSSL's libcrypto on import, which costs the
idle agent about 3.5 MB of resident memory for three small uses: telling a
fetched document from the last one, naming journal files for odd ids, and
signing cfn requests. CPython always carries its own SHA-256 (``_sha2`` from
3.12, ``_sha256`` before), which is fast enough for documents of a few MB,
so it is used when present; ``hashlib`` remains the fallback.
"""
from __future__ import annotations

try:  # CPython 3.12 and later
    from _sha2 import sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the interpreter
    try:  # CPython 3.11 and earlier
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]

BLOCK_SIZE = 64  # SHA-256's block size in bytes, which RFC 2104 pads the key to
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))


def sha256_hex(data: bytes) -> str:
    return sha256(data).hexdigest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key`` (RFC 2104), as ``hmac.digest(key, message, "sha256")``."""
    if len(key) > BLOCK_SIZE:
        key = sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    inner = sha256(key.translate(_INNER) + message).digest()
    return sha256(key.translate(_OUTER) + inner).digest()
