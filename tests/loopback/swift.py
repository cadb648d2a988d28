"""A loopback Swift object store that only knows TempURL auth (POLL_TEMP_URL and TEMP_URL_SIGNAL).

What it checks, as Swift's tempurl middleware does:
- `temp_url_sig`: HMAC of "METHOD\\n<expires>\\n<path>" with one of the account's keys, hex
  (SHA1, SHA256 or SHA512 by length) or "<digest>:<base64>". HEAD is allowed with a HEAD,
  GET or PUT signature. Missing, wrong or expired (`temp_url_expires` in the past): 401.
- The container must exist for a PUT (404 otherwise); a PUT whose ETag header disagrees with
  the body's MD5 gets 422.

What it answers: GET/HEAD with quoted `Etag` (MD5 hex), `Last-Modified` (whole seconds,
rounded up as Swift does), `X-Timestamp`; `If-None-Match` (wins when present) and
`If-Modified-Since` give 304. PUT answers 201 with the new Etag.

Test API: `add_account`, `create_container`, `put_object` (Heat publishing metadata),
`get_object` (what an agent PUT), `temp_url`, `make_signal_url`, records/faults/hooks.
Every PUT through a TempURL is recorded as a signal.
"""
from __future__ import annotations

import email.utils
import hashlib
import json
import math
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass

from .base import LoopbackServer, Request, Response, http_date
from .signing import tempurl, tempurl_signature_matches

HTML = "text/html; charset=UTF-8"
UNAUTHORIZED_BODY = ("<html><h1>Unauthorized</h1><p>This server could not verify that you are "
                     "authorized to access the document you requested.</p></html>")
NOT_FOUND_BODY = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
ACCEPTED_FOR = {"GET": ("GET",), "PUT": ("PUT",), "HEAD": ("HEAD", "GET", "PUT")}


@dataclass
class StoredObject:
    body: bytes
    content_type: str
    timestamp: float

    @property
    def etag(self) -> str:
        return hashlib.md5(self.body).hexdigest()  # noqa: S324 (Swift's ETag is MD5)

    @property
    def last_modified(self) -> int:
        return math.ceil(self.timestamp)


def object_path(account: str, container: str, name: str) -> str:
    """/v1/AUTH_<account>/<container>/<object>, the unquoted form TempURLs sign."""
    return f"/v1/AUTH_{account}/{container}/{name}"


class SwiftServer(LoopbackServer):
    name = "swift"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._keys: dict[str, list[str]] = {}
        self._containers: set[tuple[str, str]] = set()
        self._objects: dict[str, StoredObject] = {}
        self._signal_names: dict[str, tuple[str | None, str]] = {}
        self._data_lock = threading.Lock()

    # -- test API ----------------------------------------------------------------------
    def add_account(self, account: str | None = None, key: str | None = None) -> tuple[str, str]:
        """An account with a TempURL key (X-Account-Meta-Temp-URL-Key); a second call adds Key-2."""
        account = account or secrets.token_hex(16)
        key = key or secrets.token_hex(16)
        with self._data_lock:
            self._keys.setdefault(account, []).append(key)
        return account, key

    def create_container(self, account: str, container: str) -> None:
        with self._data_lock:
            self._containers.add((account, container))

    def put_object(self, account: str, container: str, name: str, body: bytes | str | dict,
                   content_type: str | None = None) -> StoredObject:
        """Store an object as Heat does when it publishes metadata; creates the container."""
        if isinstance(body, dict):
            body, content_type = json.dumps(body).encode("utf-8"), content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        stored = StoredObject(body, content_type or "application/octet-stream", time.time())
        with self._data_lock:
            self._containers.add((account, container))
            self._objects[object_path(account, container, name)] = stored
        return stored

    def get_object(self, account: str, container: str, name: str) -> StoredObject | None:
        with self._data_lock:
            return self._objects.get(object_path(account, container, name))

    def delete_object(self, account: str, container: str, name: str) -> None:
        with self._data_lock:
            self._objects.pop(object_path(account, container, name), None)

    def temp_url(self, method: str, account: str, container: str, name: str,
                 ttl: float = 86400, expires: int | None = None, key: str | None = None,
                 digest: str = "sha256") -> str:
        """A TempURL for one method; `expires` (epoch) overrides `ttl` to build expired URLs."""
        if expires is None:
            expires = int(time.time() + ttl)
        with self._data_lock:
            key = key or self._keys[account][0]
        path = urllib.parse.quote(object_path(account, container, name))
        return tempurl(self.url, path, key, method, expires, digest)

    def make_signal_url(self, account: str, container: str, name: str, stack: str | None = None,
                        resource: str | None = None, ttl: float = 86400) -> str:
        """A PUT TempURL like Heat's `deploy_signal_id`; PUTs to it are signals for `resource`."""
        self.create_container(account, container)
        with self._data_lock:
            self._signal_names[object_path(account, container, name)] = (stack, resource or name)
        return self.temp_url("PUT", account, container, name, ttl=ttl)

    # -- protocol ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = urllib.parse.unquote(request.path)
        parts = path.split("/", 4)
        if len(parts) != 5 or parts[1] != "v1" or not parts[2].startswith("AUTH_") or not parts[4]:
            return _html(404, NOT_FOUND_BODY)
        account, container = parts[2][len("AUTH_"):], parts[3]
        if not self._authorised(request, account, path):
            return _html(401, UNAUTHORIZED_BODY, {"Www-Authenticate": f'Swift realm="AUTH_{account}"'})
        if request.method in ("GET", "HEAD"):
            return self._read(request, path)
        return self._write(request, account, container, path)

    def fault_response(self, status: int) -> Response:
        return _html(status, f"<html><h1>{status}</h1><p>Injected failure.</p></html>")

    def _authorised(self, request: Request, account: str, path: str) -> bool:
        sig = request.query.get("temp_url_sig")
        try:
            expires = int(request.query.get("temp_url_expires", ""))
        except ValueError:
            return False
        if not sig or expires < time.time() or request.method not in ACCEPTED_FOR:
            return False
        with self._data_lock:
            keys = list(self._keys.get(account, ()))
        return any(tempurl_signature_matches(keys, method, expires, path, sig)
                   for method in ACCEPTED_FOR[request.method])

    def _read(self, request: Request, path: str) -> Response:
        with self._data_lock:
            stored = self._objects.get(path)
        if stored is None:
            return _html(404, NOT_FOUND_BODY)
        headers = _object_headers(stored)
        if _not_modified(request, stored):
            headers.pop("Content-Length")
            return Response(304, b"", {**headers, "Content-Type": stored.content_type})
        return Response(200, stored.body, {**headers, "Content-Type": stored.content_type})

    def _write(self, request: Request, account: str, container: str, path: str) -> Response:
        with self._data_lock:
            container_exists = (account, container) in self._containers
        if not container_exists:
            return _html(404, NOT_FOUND_BODY)
        stored = StoredObject(request.body, request.header("Content-Type") or "application/octet-stream",
                              time.time())
        sent_etag = (request.header("Etag") or "").strip('"')
        if sent_etag and sent_etag != stored.etag:
            return _html(422, "<html><h1>Unprocessable Entity</h1><p>Unable to process the "
                              "contained instructions</p></html>")
        with self._data_lock:
            self._objects[path] = stored
            stack, resource = self._signal_names.get(path, (None, path.rsplit("/", 1)[-1]))
        self.record_signal(request, stack, resource)
        return Response(201, b"", {**_object_headers(stored), "Content-Type": HTML,
                                   "Content-Length": "0"})

    def admin(self, request: Request, parts: list[str]) -> Response | None:
        """PUT/GET /_test/objects/<account>/<container>/<object> (raw body),
        POST /_test/tempurl {"method", "account", "container", "object", "ttl"?} -> {"url"},
        POST /_test/signal-url {"account", "container", "object", "stack"?, "resource"?} -> {"url"}."""
        if parts[0] == "objects" and len(parts) >= 4:
            account, container, name = parts[1], parts[2], "/".join(parts[3:])
            if request.method == "PUT":
                stored = self.put_object(account, container, name, request.body,
                                         request.header("Content-Type"))
                return Response.json(201, {"etag": stored.etag})
            if request.method == "GET":
                found = self.get_object(account, container, name)
                return Response(404) if found is None else Response(200, found.body)
        if (request.method, parts[0]) == ("POST", "signal-url"):
            data = request.json()
            url = self.make_signal_url(data["account"], data["container"], data["object"],
                                       data.get("stack"), data.get("resource"))
            return Response.json(201, {"url": url})
        if (request.method, parts[0]) == ("POST", "tempurl"):
            data = request.json()
            url = self.temp_url(data["method"], data["account"], data["container"], data["object"],
                                ttl=float(data.get("ttl", 86400)))
            return Response.json(201, {"url": url})
        return super().admin(request, parts)


def _html(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response.text(status, body, HTML, {"X-Trans-Id": _trans_id(), **(headers or {})})


def _trans_id() -> str:
    return "tx" + secrets.token_hex(11) + "-" + format(int(time.time()), "010x")


def _object_headers(stored: StoredObject) -> dict[str, str]:
    trans = _trans_id()
    return {"Etag": f'"{stored.etag}"', "Last-Modified": http_date(stored.last_modified),
            "X-Timestamp": f"{stored.timestamp:.5f}", "Accept-Ranges": "bytes",
            "Content-Length": str(len(stored.body)), "X-Trans-Id": trans,
            "X-Openstack-Request-Id": trans}


def _not_modified(request: Request, stored: StoredObject) -> bool:
    """If-None-Match decides when present (as RFC 7232 says); else If-Modified-Since."""
    none_match = request.header("If-None-Match")
    if none_match is not None:
        tags = {t.strip().strip('"') for t in none_match.split(",")}
        return "*" in tags or stored.etag in tags
    since = request.header("If-Modified-Since")
    if since:
        parsed = email.utils.parsedate_to_datetime(since) if _parsable(since) else None
        return parsed is not None and stored.last_modified <= parsed.timestamp()
    return False


def _parsable(text: str) -> bool:
    try:
        email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return False
    return True

