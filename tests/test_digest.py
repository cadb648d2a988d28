"""digest: SHA-256 and HMAC-SHA256 that agree with hashlib and hmac without loading OpenSSL."""
from __future__ import annotations

import hashlib
import hmac
import importlib.util
import subprocess
import sys

import pytest

from stoker import digest
from tests.agent_helpers import REPO

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("data", [b"", b"abc", b"\x00\xff" * 700_000])
def test_sha256_hex_matches_hashlib(data):
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_hmac_sha256_matches_rfc_4231_test_case_2():
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert digest.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == expected


@pytest.mark.parametrize("key_length", [0, 20, digest.BLOCK_SIZE, digest.BLOCK_SIZE + 1, 131])
def test_hmac_sha256_matches_hmac_for_short_block_sized_and_long_keys(key_length):
    key = bytes(range(256))[:key_length] if key_length <= 256 else b"k" * key_length
    message = b"GET\n127.0.0.1:8000\n/v1/\nAction=DescribeStackResource"
    assert digest.hmac_sha256(key, message) == hmac.digest(key, message, "sha256")


@pytest.mark.skipif(importlib.util.find_spec("_sha2") is None and importlib.util.find_spec("_sha256") is None,
                    reason="this interpreter has no built-in SHA-256, so digest falls back to hashlib")
def test_hashing_and_signing_load_no_openssl():
    code = ("import sys\nfrom stoker import digest\n"
            "digest.sha256_hex(b'x'); digest.hmac_sha256(b'k', b'm')\n"
            "print(sorted(m for m in ('_hashlib', '_ssl', 'hashlib', 'hmac') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={"PYTHONPATH": str(REPO / "agent")})
    assert out.stdout.strip() == "[]", out.stdout
