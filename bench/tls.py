"""A private CA and a certificate it signed for 127.0.0.1: HTTPS on the loopback, as clouds serve Heat.

Made at run time with the ``openssl`` command (Debian's openssl package), never
stored in the repository. Both systems are told to trust the CA the way each is
configured on a real server: stoker with ``ca_certificate`` in its config file,
the upstream chain (requests) with ``REQUESTS_CA_BUNDLE``. Each then loads that
one CA file, not the system's bundle.
"""
from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .upstream import InstallError

SERVER_NAMES = "IP:127.0.0.1,DNS:localhost"


@dataclass(frozen=True)
class PrivateCA:
    ca_file: Path      # the CA certificate clients trust
    cert_file: Path    # the server's certificate, signed by the CA
    key_file: Path     # the server's key

    @classmethod
    def create(cls, where: Path) -> "PrivateCA":
        """A CA and a server certificate for 127.0.0.1 in ``where`` (RSA 2048, valid two days)."""
        if shutil.which("openssl") is None:
            raise InstallError("HTTPS needs the openssl command (apt-get install openssl)")
        where.mkdir(parents=True, exist_ok=True)
        ca_key, ca_file = where / "ca.key", where / "ca.pem"
        key, csr, cert, ext = where / "server.key", where / "server.csr", where / "server.pem", where / "server.ext"
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=stoker bench CA",
                 "-keyout", str(ca_key), "-out", str(ca_file))
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
                 "-out", str(csr))
        ext.write_text(f"subjectAltName = {SERVER_NAMES}\nbasicConstraints = CA:FALSE\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_file), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
        return cls(ca_file, cert, key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise InstallError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")
