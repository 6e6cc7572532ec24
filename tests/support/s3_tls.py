"""A moto S3 server that speaks HTTPS, for clients that refuse plain HTTP (pgBackRest).

pgBackRest reaches S3 over TLS only and checks the server's name against the
certificate's DNS names (not its IP addresses), so the server gets a throwaway
certificate for `localhost`, and the client trusts that certificate as its CA file.

moto's own ThreadedMotoServer has no TLS option; this is the same werkzeug server with
an SSL context and one fix. werkzeug answers every request with `Connection: close`
and then closes the socket without a TLS close_notify; OpenSSL 3 (pgBackRest's) takes
that for a truncated answer and retries until it gives up. So the server says
close_notify before it closes.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import ssl
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

HOST_NAME = "localhost"


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (its own CA too), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "s3-cert.pem", directory / "s3-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


class _ClosingTlsServer(ThreadedWSGIServer):
    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            request.settimeout(5)
            request.unwrap()  # close_notify; the plain socket is then closed as usual
        super().shutdown_request(request)


class TlsMotoServer:
    """moto (S3 and the rest) on https://localhost:PORT, in a thread."""

    def __init__(self, port: int, cert_file: Path, key_file: Path) -> None:
        self.port = port
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_file, key_file)
        self._server: ThreadedWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """HOST:PORT, as pgBackRest's repo-s3-endpoint takes it."""
        return f"{HOST_NAME}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.endpoint}"

    def start(self) -> None:
        # One line per request otherwise, in every test's output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = DomainDispatcherApplication(create_backend_app)
        self._server = _ClosingTlsServer("127.0.0.1", self.port, app, ssl_context=self._context)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
