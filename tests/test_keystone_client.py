"""The Keystone v3 password client: login, catalog, token reuse and clean errors (docs/protocol.md, "Heat")."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stoker import httpclient
from stoker.keystone import KeystoneError, KeystoneSession, find_endpoint, refresh_after, v3_url

pytestmark = pytest.mark.unit

PASSWORD = "pa55-w0rd-secret"
TOKEN = "gAAAAA-token-value-1234"
TLS = httpclient.TLSOptions()
CATALOG = [
    {"type": "identity", "endpoints": [{"interface": "public", "region_id": "R1", "url": "http://k/v3"}]},
    {"type": "orchestration", "endpoints": [
        {"interface": "internal", "region_id": "R1", "url": "http://internal:8004/v1/p"},
        {"interface": "public", "region_id": "R1", "url": "http://one:8004/v1/p/"},
        {"interface": "public", "region_id": "R2", "url": "http://two:8004/v1/p"}]},
]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


class FakeKeystone:
    """Answers POST /v3/auth/tokens; ``server_now`` is Keystone's clock, independent of the agent's."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.status = 201
        self.lifetime = 3600.0
        self.server_now = 1_000_000_000.0
        self.send_token = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body))
                status, headers, payload = outer.answer()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                data = json.dumps(payload).encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self) -> tuple[int, dict, dict]:
        if self.status != 201:
            return self.status, {}, {"error": {"code": self.status, "message": "The request you have made "
                                                                                 "requires authentication."}}
        headers = {"X-Subject-Token": f"{TOKEN}-{len(self.requests)}"} if self.send_token else {}
        token = {"issued_at": iso(self.server_now), "expires_at": iso(self.server_now + self.lifetime),
                 "catalog": CATALOG}
        return 201, headers, {"token": token}

    @property
    def logins(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Clock:
    def __init__(self, now: float = 5000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keystone():
    server = FakeKeystone()
    yield server
    server.close()


def session(keystone: FakeKeystone, clock: Clock | None = None, suffix: str = "/v3",
            region: str | None = None) -> KeystoneSession:
    return KeystoneSession(keystone.url + suffix, "uid-1", PASSWORD, "pid-1", region,
                           timeout=5, tls=TLS, clock=clock or Clock())


@pytest.mark.parametrize("given", ["http://k:5000", "http://k:5000/", "http://k:5000/v3", "http://k:5000/v3/",
                                   "http://k:5000/v2.0", "http://k:5000/v2.0/"])
def test_auth_url_is_normalised_to_v3(given):
    assert v3_url(given) == "http://k:5000/v3"


def test_login_posts_user_id_password_and_project_scope(keystone):
    assert session(keystone, suffix="/v2.0/").token() == f"{TOKEN}-1"
    path, body = keystone.requests[0]
    assert path == "/v3/auth/tokens"
    assert body == {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": "uid-1", "password": PASSWORD}}}, "scope": {"project": {"id": "pid-1"}}}}


def test_token_is_reused_while_fresh(keystone):
    ks = session(keystone)
    assert {ks.token() for _ in range(5)} == {f"{TOKEN}-1"}
    assert keystone.logins == 1 and ks.logins == 1


def test_long_token_is_renewed_five_minutes_before_it_ends(keystone):
    clock = Clock()
    ks = session(keystone, clock)
    ks.token()
    clock.now += 3600 - 301
    ks.token()
    assert keystone.logins == 1
    clock.now += 2
    assert ks.token() == f"{TOKEN}-2"
    assert keystone.logins == 2


def test_short_token_is_used_for_half_its_life(keystone):
    keystone.lifetime = 60
    clock = Clock()
    ks = session(keystone, clock)
    ks.token()
    clock.now += 29
    ks.token()
    assert keystone.logins == 1
    clock.now += 2
    ks.token()
    assert keystone.logins == 2
    assert refresh_after(60) == 30 and refresh_after(3600) == 3300


def test_reuse_window_ignores_a_skewed_guest_clock(keystone):
    keystone.server_now = 2_000_000_000.0  # Keystone's clock is years ahead of the guest's
    clock = Clock(10.0)
    ks = session(keystone, clock)
    ks.token()
    clock.now += 600
    ks.token()
    assert keystone.logins == 1


def test_invalidate_forces_a_new_login(keystone):
    ks = session(keystone)
    ks.token()
    ks.invalidate()
    assert ks.token() == f"{TOKEN}-2"
    assert keystone.logins == 2


def test_endpoint_picks_public_interface_of_the_session_region(keystone):
    assert session(keystone, region="R2").endpoint("orchestration") == "http://two:8004/v1/p"
    assert session(keystone).endpoint("orchestration") == "http://one:8004/v1/p"
    assert session(keystone).endpoint("orchestration", "internal") == "http://internal:8004/v1/p"
    assert session(keystone).endpoint("orchestration", region="R2") == "http://two:8004/v1/p"


def test_missing_endpoint_is_a_permanent_error(keystone):
    with pytest.raises(KeystoneError, match="no public messaging endpoint") as info:
        session(keystone).endpoint("messaging")
    assert not info.value.transient
    with pytest.raises(KeystoneError, match="in region R9"):
        session(keystone, region="R9").endpoint("orchestration")


def test_find_endpoint_tolerates_a_malformed_catalog():
    assert find_endpoint(None, "orchestration") is None
    assert find_endpoint([None, {"type": "orchestration", "endpoints": None}], "orchestration") is None


def test_refused_login_is_permanent_and_names_no_secret(keystone):
    keystone.status = 401
    ks = session(keystone)
    with pytest.raises(KeystoneError) as info:
        ks.token()
    assert info.value.status == 401 and not info.value.transient
    assert "401" in str(info.value) and PASSWORD not in str(info.value)
    assert PASSWORD not in repr(ks)


def test_server_error_is_transient(keystone):
    keystone.status = 503
    with pytest.raises(KeystoneError) as info:
        session(keystone).token()
    assert info.value.transient and info.value.status == 503


def test_answer_without_subject_token_is_an_error(keystone):
    keystone.send_token = False
    with pytest.raises(KeystoneError, match="X-Subject-Token"):
        session(keystone).token()


def test_unreachable_keystone_is_transient_and_secret_free():
    ks = KeystoneSession("http://127.0.0.1:9/v3", "u", PASSWORD, "p", timeout=2, tls=TLS)
    with pytest.raises(KeystoneError) as info:
        ks.token()
    assert info.value.transient
    assert PASSWORD not in str(info.value)


def test_token_never_appears_in_later_error_text(keystone):
    from stoker import redaction

    ks = session(keystone)
    token = ks.token()
    assert token not in redaction.redact(f"request with {token} failed")
