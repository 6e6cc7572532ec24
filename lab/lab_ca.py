"""The lab's own certificate authority, and the server certificate of its S3 TLS front.

pgBackRest reaches S3 over TLS only, with verification on (the production setting), so
the lab's S3 needs a certificate its clients can check: a CA made at `dr lab up`
(`STATE/ca/lab-ca.pem`, the inventory's `ca_file`), and a server certificate it signs
for the front's address.

Why the address is also a *DNS* name in the certificate: pgBackRest 2.45 compares the
host it connects to only with the certificate's DNS names (and, without any, its common
name); IP-address entries are ignored (support came in 2.53). The lab has no DNS (and
/etc/hosts is the machine's, not the lab's), so its S3 endpoint is the address itself,
and the certificate carries it twice: as a DNS name for pgBackRest and as an IP address
for clients that follow RFC 6125 (Python's ssl, OpenSSL's own checks). Both name the
same address the front listens on and nothing else.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Every lab process stops within hours; a week leaves room for a lab kept up by hand.
VALIDITY = datetime.timedelta(days=7)


@dataclass(frozen=True)
class ServerCertificate:
    ca_file: Path  # public, 0644: every client (and PostgreSQL's archive_command) reads it
    cert_file: Path  # the server's certificate followed by the CA's
    key_file: Path  # 0600, root's: only the front reads it


def ensure_server_certificate(ca_dir: Path, server_dir: Path, address: str) -> ServerCertificate:
    """A CA in `ca_dir` and a certificate for `address` in `server_dir`, made once: kept
    while both exist and the certificate still names `address`."""
    files = ServerCertificate(
        ca_dir / "lab-ca.pem", server_dir / "s3-tls-cert.pem", server_dir / "s3-tls-key.pem"
    )
    if _still_good(files, address):
        return files
    ca_dir.mkdir(parents=True, exist_ok=True)
    ca_dir.chmod(0o755)
    server_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dr lab CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName(
        [x509.DNSName(address), x509.IPAddress(ipaddress.ip_address(address))]
    )
    server = (
        _builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]),
            ca_name,
            key.public_key(),
            now,
        )
        .add_extension(names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write(files.key_file, key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ), 0o600)  # fmt: skip
    _write(files.cert_file, server.public_bytes(pem) + ca.public_bytes(pem), 0o644)
    # The CA's key is not kept: nothing else is ever signed with it.
    _write(files.ca_file, ca.public_bytes(pem), 0o644)
    return files


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _still_good(files: ServerCertificate, address: str) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        ok = files.ca_file.exists() and files.key_file.exists()
    except (OSError, ValueError):
        return False
    remaining = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return (
        ok
        and remaining > datetime.timedelta(days=1)
        and address in names.value.get_values_for_type(x509.DNSName)
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, mode)
        handle.write(data)
    temporary.replace(path)
