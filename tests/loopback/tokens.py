"""Keystone tokens shared between the loopback Keystone and the servers that accept them.

The real services validate tokens against Keystone; here they share one in-memory store,
which gives the same answers (valid, expired, revoked) without a validation round trip.
Tests use `expire_all()` / `revoke_all()` to make an agent re-authenticate.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Token:
    """What a token stands for; mirrors the parts of Keystone's token body servers need."""

    id: str
    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    methods: list[str]
    issued_at: float
    expires_at: float
    audit_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def valid(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at


class TokenStore:
    """Thread-safe map from token id to `Token`."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str, user_name: str, user_domain_id: str, project_id: str | None,
              project_name: str | None, lifetime: float, methods: list[str] | None = None) -> Token:
        now = time.time()
        token = Token("gAAAAA" + secrets.token_urlsafe(96), user_id, user_name, user_domain_id,
                      project_id, project_name, methods or ["password"], now, now + lifetime)
        with self._lock:
            self._tokens[token.id] = token
        return token

    def validate(self, token_id: str | None) -> Token | None:
        """The token if it exists and has not expired, else None."""
        if not token_id:
            return None
        with self._lock:
            token = self._tokens.get(token_id)
        return token if token is not None and token.valid() else None

    def revoke(self, token_id: str) -> bool:
        with self._lock:
            return self._tokens.pop(token_id, None) is not None

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    def expire_all(self) -> None:
        """Make every token expired now (they stay known, as Keystone's would)."""
        now = time.time()
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now - 1)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)
