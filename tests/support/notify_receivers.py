"""Real receivers for notifications: an SMTP server (aiosmtpd) and an HTTP server that
answers like the generic, WeCom, DingTalk and Feishu webhooks, checking the bots'
signatures the way their documentation describes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "dr-alerts"
SMTP_PASSWORD = "smtp-test-password"
DINGTALK_SECRET = "SECdingtalk-test-secret"
FEISHU_SECRET = "feishu-test-secret"


class MailBox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(mail)  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> AuthResult:
        ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def clear(self) -> None:
        self.messages.clear()
        self.logins.clear()


@dataclass
class HttpReceiver:
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    # path -> how many more times it answers 500 before it works
    failures: dict[str, int] = field(default_factory=dict)
    # path -> the how-manieth request from now (1 = the next) that it answers 500, once
    fail_nth: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def clear(self) -> None:
        self.requests.clear()
        self.failures.clear()
        self.fail_nth.clear()


def _answer(
    receiver: HttpReceiver, path: str, query: dict[str, str], body: dict[str, Any], size: int
) -> tuple[int, dict[str, Any]]:
    """As the bots answer, refusing what is over their documented size limits (the
    figures and their sources: orchestrator/notify/bot_limits.py)."""
    if receiver.failures.get(path, 0) > 0:
        receiver.failures[path] -= 1
        return 500, {"error": "try later"}
    if path in receiver.fail_nth:
        receiver.fail_nth[path] -= 1
        if receiver.fail_nth[path] == 0:
            del receiver.fail_nth[path]
            return 500, {"error": "try later"}
    if path == "/wecom":
        content = body.get("text", {}).get("content", "")
        if len(content.encode()) > 2048:
            return 200, {"errcode": 40058, "errmsg": "content exceed max length 2048"}
        return 200, {"errcode": 0, "errmsg": "ok"}
    if path == "/dingtalk" and size > 20000:
        return 200, {"errcode": 460101, "errmsg": "body 大小不合法，请保持大小在 20000bytes 以内"}
    if path == "/feishu" and size > 20 * 1024:
        return 200, {"code": 19036, "msg": "The message exceeds the size limit"}
    if path == "/dingtalk":
        to_sign = f"{query.get('timestamp')}\n{DINGTALK_SECRET}".encode()
        expected = base64.b64encode(
            hmac.new(DINGTALK_SECRET.encode(), to_sign, hashlib.sha256).digest()
        ).decode()
        if query.get("sign") != expected:
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        return 200, {"errcode": 0, "errmsg": "ok"}
    if path == "/feishu":
        key = f"{body.get('timestamp')}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if body.get("sign") != expected:
            return 200, {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour",
            }
        return 200, {"code": 0, "msg": "success"}
    return 200, {"ok": True}


def _handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, reply = _answer(receiver, parts.path, query, body, length)
            receiver.requests.append(
                {"path": parts.path, "query": query, "body": body, "status": status, "reply": reply}
            )
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _free_port() -> int:
    # aiosmtpd's Controller must be told its port (it connects to it to confirm start).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def mailbox() -> Iterator[tuple[MailBox, int]]:
    box = MailBox()
    port = _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, so the client's verification is real, not switched off."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def starttls_mailbox(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[MailBox, int, Path]]:
    """An SMTP server that requires STARTTLS before anything, and login only over TLS."""
    cert_path, key_path = _self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    box = MailBox()
    port = _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box.authenticate,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    try:
        yield box, port, cert_path
    finally:
        controller.stop()
