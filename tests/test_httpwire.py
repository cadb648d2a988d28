"""The HTTP client (stoker.httpwire behind stoker.httpclient), over TCP and over TLS.

Each test puts a canned answer, byte for byte, behind a socket on 127.0.0.1 (wrapped in
TLS with a certificate made by openssl for the https tests), so the framing cases real
servers produce (chunked, Content-Length, read to the close, interim 100 Continue,
bodies that must not be read) and certificate checks are exercised exactly, along with
what the client sends. The contract tiers run every source and signal through it too.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from stoker import httpclient, httpwire

pytestmark = pytest.mark.unit


class CannedServer:
    """Accepts one connection, records the request (head and body), answers ``reply``, closes."""

    def __init__(self, reply: bytes, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.request = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self._answer(conn)
        except OSError:
            pass  # the client refused the handshake: what some tests want
        finally:
            conn.close()
            self.listener.close()

    def _answer(self, conn: socket.socket) -> None:
        if True:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    while len(body) < int(line.split(b":")[1]):
                        body += conn.recv(65536)
            self.request = head + b"\r\n\r\n" + body
            conn.sendall(self.reply)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def request_lines(self) -> list[str]:
        return self.request.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch) -> Iterator[None]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield


def get(server: CannedServer, path: str = "/x", method: str = "GET", **kwargs) -> httpclient.Response:
    return httpclient.request(method, server.url + path, timeout=5, **kwargs)


def test_a_content_length_body_is_read_exactly_and_headers_come_back():
    server = CannedServer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"v1\"\r\n\r\nhello")
    answer = get(server)
    assert (answer.status, answer.body, answer.header("etag")) == (200, b"hello", '"v1"')


def test_a_large_body_arrives_whole():
    body = bytes(range(256)) * (8 * 4096)  # 8 MiB
    server = CannedServer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert get(server).body == body


def test_a_chunked_body_is_reassembled_and_trailers_are_skipped():
    server = CannedServer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert get(server).body == b"hello world"


def test_a_body_without_length_is_read_until_the_server_closes():
    server = CannedServer(b"HTTP/1.0 200 OK\r\n\r\nuntil the close")
    assert get(server).body == b"until the close"


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_is_read_for_204_and_304(status):
    server = CannedServer(f"HTTP/1.1 {status} X\r\nContent-Length: 99\r\n\r\n".encode())
    answer = get(server)
    assert (answer.status, answer.body) == (status, b"")


def test_an_interim_100_continue_is_skipped():
    server = CannedServer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    answer = get(server, method="POST", body=b"{}")
    assert (answer.status, answer.body) == (201, b"ok")


def test_the_request_names_the_host_as_the_url_spells_it_and_closes_the_connection():
    """The cfn signature covers the Host header, which must match the URL the agent signed."""
    server = CannedServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    get(server, "/v1/?Action=X&a=b%20c", headers={"X-Auth-Token": "t"})
    lines = server.request_lines()
    assert lines[0] == "GET /v1/?Action=X&a=b%20c HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "Connection: close" in lines and "X-Auth-Token: t" in lines
    assert f"User-Agent: {httpclient.USER_AGENT}" in lines


def test_a_post_sends_its_body_with_its_length():
    server = CannedServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    get(server, method="POST", body=b'{"deploy_status_code": 0}', headers={"Content-Type": "application/json"})
    assert "Content-Length: 25" in server.request_lines()
    assert server.request.endswith(b'{"deploy_status_code": 0}')


def test_error_statuses_are_answers_not_exceptions():
    server = CannedServer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied")
    answer = get(server)
    assert (answer.status, answer.text()) == (403, "denied")


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 11,
], ids=["content-length", "chunked", "until-close"])
def test_a_body_larger_than_allowed_is_a_final_error_in_every_framing(reply):
    server = CannedServer(reply)
    with pytest.raises(httpclient.TransportError, match="larger than 10 bytes") as raised:
        get(server, max_body=10)
    assert raised.value.transient is False


@pytest.mark.parametrize("reply, says", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "connection closed in the middle"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"", "connection closed"),
])
def test_broken_answers_are_transient_transport_errors_that_say_what_was_wrong(reply, says):
    server = CannedServer(reply)
    with pytest.raises(httpclient.TransportError, match=says) as raised:
        get(server)
    assert raised.value.transient is True


def test_a_refused_connection_says_so():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(httpclient.TransportError, match="connection refused"):
        httpclient.request("GET", f"http://127.0.0.1:{port}/", timeout=5)


def test_a_silent_server_times_out():
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(httpclient.TransportError, match="timed out"):
            httpclient.request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.5)
    finally:
        listener.close()


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    with pytest.raises(httpwire.WireError, match="line break"):
        httpwire._request_bytes("GET", "h", "/", {"X-Evil": "a\r\nInjected: 1"}, None)


def test_a_proxy_variable_hands_plain_http_to_urllib_which_honours_it(monkeypatch):
    proxy = CannedServer(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")
    monkeypatch.setenv("http_proxy", proxy.url)
    answer = httpclient.request("GET", "http://metadata.invalid:8000/v1/", timeout=5)
    assert answer.body == b"proxied"
    assert proxy.request_lines()[0] == "GET http://metadata.invalid:8000/v1/ HTTP/1.1"


@pytest.mark.parametrize("status, transient", [(408, True), (429, True), (500, True), (503, True), (599, True),
                                              (400, False), (401, False), (403, False), (404, False), (304, False)])
def test_is_transient_is_the_one_rule_408_429_and_every_5xx(status, transient):
    assert httpclient.is_transient(status) is transient


def test_plain_http_loads_neither_openssl_nor_the_email_package():
    """The point of httpwire: the idle agent's memory (bench: idle resident memory)."""
    code = ("import sys, stoker.httpclient as h, stoker.awssig, stoker.cli\n"
            "loaded = [m for m in ('ssl', '_ssl', '_hashlib', 'email', 'http.client', 'urllib.request') "
            "if m in sys.modules]\nprint(','.join(loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "", f"modules loaded at import: {out.stdout}"


# ------------------------------------------------------------------ https


def make_certificate(where: Path, names: str) -> Path:
    """A self-signed certificate (its own CA) and key in ``where``, for subjectAltName ``names``."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=stoker-test", "-addext", f"subjectAltName={names}",
                    "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    return where


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    return make_certificate(tmp_path_factory.mktemp("tls"), "IP:127.0.0.1,DNS:localhost")


def tls_server(certificate: Path, reply: bytes) -> CannedServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    return CannedServer(reply, tls=context)


OK_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"


def test_https_verifies_the_server_against_the_configured_ca_and_signs_its_host(certificate):
    server = tls_server(certificate, OK_REPLY)
    answer = get(server, "/v1/?a=b", tls=httpclient.TLSOptions(ca_file=str(certificate / "cert.pem")))
    assert (answer.status, answer.body) == (200, b"secret")
    assert f"Host: 127.0.0.1:{server.port}" in server.request_lines()


def test_https_to_a_server_no_trusted_ca_signed_fails_verification(certificate):
    server = tls_server(certificate, OK_REPLY)
    with pytest.raises(httpclient.TransportError, match="certificate verify failed"):
        get(server)


def test_https_refuses_a_trusted_certificate_for_another_name(tmp_path):
    elsewhere = make_certificate(tmp_path / "elsewhere", "DNS:elsewhere.invalid")
    server = tls_server(elsewhere, OK_REPLY)
    with pytest.raises(httpclient.TransportError, match="mismatch"):
        get(server, tls=httpclient.TLSOptions(ca_file=str(elsewhere / "cert.pem")))


def test_https_to_a_host_name_verifies_that_name(certificate, tmp_path):
    """A URL naming its host (not an address) is resolved and checked against the certificate by name."""
    server = tls_server(certificate, OK_REPLY)
    tls = httpclient.TLSOptions(ca_file=str(certificate / "cert.pem"))
    answer = httpclient.request("GET", f"https://localhost:{server.port}/x", timeout=10, tls=tls)
    assert (answer.status, answer.body) == (200, b"secret")
    assert f"Host: localhost:{server.port}" in server.request_lines()
    elsewhere = make_certificate(tmp_path / "elsewhere", "DNS:elsewhere.invalid")
    other = tls_server(elsewhere, OK_REPLY)
    with pytest.raises(httpclient.TransportError, match="mismatch"):
        httpclient.request("GET", f"https://localhost:{other.port}/x", timeout=10,
                           tls=httpclient.TLSOptions(ca_file=str(elsewhere / "cert.pem")))


def test_requests_to_ascii_hosts_do_not_load_the_idna_codec(certificate):
    """The idna codec (stringprep, unicodedata) stays out of the idle agent; ASCII hosts do not need it."""
    by_name, by_address = tls_server(certificate, OK_REPLY), tls_server(certificate, OK_REPLY)
    plain = CannedServer(b"HTTP/1.1 204 No Content\r\n\r\n")
    code = ("import sys, stoker.httpclient as h\n"
            f"tls = h.TLSOptions(ca_file={str(certificate / 'cert.pem')!r})\n"
            f"assert h.request('GET', 'https://localhost:{by_name.port}/x', tls=tls, timeout=10).status == 200\n"
            f"assert h.request('GET', 'https://127.0.0.1:{by_address.port}/x', tls=tls, timeout=10).status == 200\n"
            f"assert h.request('GET', 'http://localhost:{plain.port}/x', timeout=10).status == 204\n"
            "print(','.join(m for m in ('encodings.idna', 'stringprep', 'unicodedata') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"loaded for ASCII hosts: {out.stdout}"


def test_a_tls_server_closing_without_close_notify_ends_a_body_read_to_the_close(certificate):
    server = tls_server(certificate, b"HTTP/1.0 200 OK\r\n\r\nuntil the close")
    tls = httpclient.TLSOptions(ca_file=str(certificate / "cert.pem"))
    assert get(server, tls=tls).body == b"until the close"


def test_an_unreadable_ca_file_is_a_transport_error_not_a_crash(tmp_path):
    with pytest.raises(httpclient.TransportError, match="TLS set-up"):
        httpclient.request("GET", "https://127.0.0.1:9/", timeout=5,
                           tls=httpclient.TLSOptions(ca_file=str(tmp_path / "missing.pem")))
