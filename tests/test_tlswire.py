"""HTTPS through ``_ssl`` directly: the same verification as the ssl module, without its memory."""
from __future__ import annotations

import subprocess
import sys

import pytest

from stoker import httpclient, tlswire

from .test_httpwire import OK_REPLY, certificate, get, tls_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.contract


def test_an_https_request_loads_openssl_but_not_the_ssl_module(certificate):
    """The point of tlswire: the idle agent over HTTPS (bench --https: idle resident memory)."""
    server = tls_server(certificate, OK_REPLY)
    code = ("import sys\nfrom stoker import httpclient\n"
            f"answer = httpclient.request('GET', 'https://127.0.0.1:{server.port}/', timeout=10, "
            f"tls=httpclient.TLSOptions(ca_file={str(certificate / 'cert.pem')!r}))\n"
            "print(answer.status, 'ssl' in sys.modules, '_ssl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["200", "False", "True"], out.stdout + out.stderr


def test_one_context_serves_every_request_with_the_same_ca(certificate):
    tls = httpclient.TLSOptions(ca_file=str(certificate / "cert.pem"))
    get(tls_server(certificate, OK_REPLY), tls=tls)
    first = httpclient._contexts[tls]
    get(tls_server(certificate, OK_REPLY), tls=httpclient.TLSOptions(ca_file=str(certificate / "cert.pem")))
    assert httpclient._contexts[tls] is first


def test_without_a_usable_ssl_extension_the_ssl_module_verifies_instead(certificate, monkeypatch):
    def unusable(_ca_file):
        raise AttributeError("no _SSLContext here")

    monkeypatch.setattr(tlswire, "ClientContext", unusable)
    monkeypatch.setattr(httpclient, "_contexts", {})
    server = tls_server(certificate, OK_REPLY)
    answer = get(server, tls=httpclient.TLSOptions(ca_file=str(certificate / "cert.pem")))
    assert (answer.status, answer.body) == (200, b"secret")
    with pytest.raises(httpclient.TransportError, match="certificate verify failed"):
        get(tls_server(certificate, OK_REPLY))
