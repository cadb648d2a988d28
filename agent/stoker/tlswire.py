"""TLS for httpwire from CPython's ``_ssl`` extension, without the ``ssl`` module's Python layer.

``import ssl`` costs the idle agent about 4 MB: about 2 MB is OpenSSL itself
(``_ssl``, libssl, libcrypto), which any TLS needs, and about 1.7 MB is
``ssl.py``: dozens of enum classes and the ``SSLSocket`` machinery, none of
which a client that sends one request per connection uses. This module builds
the verifying client context and wraps a connected socket with the extension
directly. Every check stays OpenSSL's, set up as ``ssl.create_default_context()``
sets it up: ``PROTOCOL_TLS_CLIENT`` (certificate required, host name checked
against the URL's host, IP addresses included), trusting the configured CA file
only, else the system's default CA paths.

``_ssl`` is the interpreter's private module. When its shape is not the one
used here (another interpreter, a future CPython), :func:`client_context` falls
back to ``ssl.create_default_context`` and everything works at ``ssl.py``'s price.
"""
from __future__ import annotations

import socket
from typing import Any


class TLSStream:
    """A connected, verified TLS stream with the socket methods httpwire uses."""

    def __init__(self, tls: Any, raw: socket.socket, zero_return: type[BaseException]) -> None:
        self._tls = tls
        self._raw = raw
        self._zero_return = zero_return

    def recv(self, size: int) -> bytes:
        try:
            return self._tls.read(size)
        except self._zero_return:  # the server's close_notify: the end of the stream
            return b""

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._tls.write(view):]

    def close(self) -> None:
        self._raw.close()


class ClientContext:
    """A verifying client context made by ``_ssl`` directly; one per CA setting, shared by every request."""

    def __init__(self, ca_file: str | None) -> None:
        import _ssl

        self._ssl = _ssl
        context = _ssl._SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        if context.verify_mode != _ssl.CERT_REQUIRED or not context.check_hostname:
            raise RuntimeError("this _ssl does not verify by default")  # -> the ssl module instead
        if ca_file:
            context.load_verify_locations(ca_file)
        else:
            context.set_default_verify_paths()
        self._context = context

    def wrap_socket(self, raw: socket.socket, server_hostname: str) -> TLSStream:
        """Shake hands over ``raw`` (its timeout applies) and verify the peer; OSError (SSLError) if not."""
        tls = self._context._wrap_socket(raw, False, server_hostname)
        tls.do_handshake()
        return TLSStream(tls, raw, self._ssl.SSLZeroReturnError)


def client_context(ca_file: str | None) -> Any:
    """The context ``httpwire.exchange`` takes: ``_ssl``'s own, or the ``ssl`` module's where that is missing."""
    try:
        return ClientContext(ca_file)
    except (ImportError, AttributeError, TypeError, RuntimeError):
        import ssl

        return ssl.create_default_context(cafile=ca_file)
