"""Where the console may listen, and over what: HTTPS on an intranet address.

A console on a public address would put the approval page of a financial institution's
recovery plan on the internet; plain HTTP would show session cookies to the network.
Both take an explicit flag, and plain HTTP only on loopback (tests, an SSH tunnel).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UserInputError
from orchestrator.inventory.people_settings import ConsoleSettings
from orchestrator.inventory.secrets import SecretRef, file_is_private


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    certificate: Path | None  # None: plain HTTP (loopback only, by request)
    key: Path | None

    @property
    def scheme(self) -> str:
        return "https" if self.certificate is not None else "http"


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (an IPv6 host in brackets) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserInputError(
            f"console listen address {text!r} is not HOST:PORT (e.g. 10.1.2.3:8443) / "
            "监听地址应为 主机:端口"
        )
    return host.strip("[]"), int(port)


def check_address(
    host: str, *, allow_public: bool
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(host)
    except ValueError as err:
        raise UserInputError(
            f"console listen host {host!r} is not an IP address: give the intranet address "
            "to listen on (a name could resolve anywhere) / 请填写内网 IP 地址"
        ) from err
    public = address.is_unspecified or not (address.is_private or address.is_loopback)
    if public and not allow_public:
        raise UserInputError(
            f"{host} is not a private (intranet) or loopback address: the console is for "
            "the duty room's network only. Give an intranet address, or pass "
            "--allow-public if it must be reached from elsewhere (behind a VPN). / "
            f"{host} 不是内网地址；控制台默认只在内网提供服务。"
        )
    return address


def resolve_listen(
    settings: ConsoleSettings,
    listen: str | None,
    *,
    allow_public: bool,
    insecure_http: bool,
) -> Listen:
    host, port = parse_listen(listen or settings.listen)
    address = check_address(host, allow_public=allow_public)
    if insecure_http:
        if not address.is_loopback:
            raise UserInputError(
                "--insecure-http serves plain HTTP, which only loopback may (tests, an SSH "
                "tunnel): listen on 127.0.0.1, or configure console.certificate and "
                "console.key. / 明文 HTTP 仅限本机回环地址。"
            )
        return Listen(host, port, None, None)
    certificate = _file(settings.certificate, "certificate")
    key = _file(settings.key, "key")
    return Listen(host, port, certificate, key)


def is_public(listen: Listen) -> bool:
    address = ipaddress.ip_address(listen.host)
    return address.is_unspecified or not (address.is_private or address.is_loopback)


def _file(ref: SecretRef | None, field: str) -> Path:
    if ref is None or ref.kind != "file":
        raise UserInputError(
            f"console.{field} must be a file: reference (console: {{certificate: "
            "file:/etc/dr/console.crt, key: file:/etc/dr/console.key}}): the console serves "
            "HTTPS only. / 控制台只提供 HTTPS，请在清单 console 中配置证书与私钥文件。"
        )
    path = ref.path
    if not path.is_file():
        raise UserInputError(f"console.{field} {path} does not exist / 文件不存在")
    if field == "key" and not file_is_private(path):
        raise UserInputError(
            f"console.key {path} can be read by other accounts: `chmod 600 {path}` (and owned "
            "by the account running dr serve). / 私钥文件权限过宽，请 chmod 600。"
        )
    return path
