"""A real `dr serve` on loopback with a self-signed certificate made here, an inventory
whose contacts get their codes by email from the test's SMTP server, and helpers to read
those codes out of the mails."""

from __future__ import annotations

import getpass
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.notify_receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    MailBox,
    _self_signed_certificate,
)
from tests.support.server_process import stop_server

DATA = Path(__file__).parent.parent / "data"
RUNBOOKS = DATA / "console_runbooks"
CODE = re.compile(r"(?:code|登录码)[^:：]*[:：]\s*([A-Za-z0-9_-]{20,})")


@dataclass
class ConsoleSite:
    directory: Path
    inventory: Path
    port: int
    mailbox: MailBox
    certificate: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def dr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def codes_for(self, address: str) -> list[str]:
        """Every one-time code mailed to `address`, oldest first."""
        found = []
        for mail in self.mailbox.to(address):
            body = mail.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            found += CODE.findall(text)
        return found

    def wait_for_code(self, address: str, known: int = 0, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = self.codes_for(address)
            if len(codes) > known:
                return codes[-1]
            time.sleep(0.1)
        raise AssertionError(f"no new code mailed to {address} within {timeout}s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_site(directory: Path, mailbox: MailBox, smtp_port: int) -> ConsoleSite:
    cert, key = _self_signed_certificate(directory)
    key.chmod(0o600)
    cert.chmod(0o600)  # a file: reference in the inventory; dr inventory check wants it private
    port = free_port()
    inventory = {
        "name": "console-test-lab",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "app-1", "address": "127.0.0.11", "site": "dc", "roles": ["app"]},
            {"name": "db-a", "address": "127.0.0.1", "site": "dc"},
        ],
        # Backed up on this machine by restic, when a test runs `dr backup init` and `run`.
        "backup_sets": [
            {"name": "credit", "host": "db-a", "repository": str(directory / "repo"),
             "password": "file:restic.pass", "paths": [str(directory / "data")], "rpo": "1h"},
        ],
        "contacts": [
            # The person running the tests starts drills: their OS account is duty-wang.
            {"name": "duty-wang", "role": "duty-operator", "login": getpass.getuser(),
             "email": "wang@lab.invalid", "language": "en"},
            {"name": "director-zhao", "role": "leadership", "email": "zhao@lab.invalid",
             "language": "en"},
            {"name": "director-li", "role": "leadership", "email": "li@lab.invalid"},
        ],
        # Who hears of an incident, by level (an orange one on the board's test).
        "escalation": {"orange": ["director-li"]},
        "targets": [
            {"system": "engine-test", "category": "information-system", "rto": "30m",
             "rpo": "5m"},
        ],
        "notifications": {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "dr@lab.invalid",
                "username": SMTP_USER,
                "password": "env:CONSOLE_TEST_SMTP_PASSWORD",
                "allow_cleartext_login": True,
            }
        },
        "console": {
            "url": f"https://127.0.0.1:{port}",
            "listen": f"127.0.0.1:{port}",
            "certificate": f"file:{cert}",
            "key": f"file:{key}",
        },
        # No drill roster: the approval waits for a person, as in a real incident.
        "drill": {"auto_approve_by": []},
    }  # fmt: skip
    (directory / "restic.pass").write_text("console-restic-password\n")
    (directory / "restic.pass").chmod(0o600)
    (directory / "data").mkdir(exist_ok=True)
    (directory / "data" / "report.xml").write_text("<report>征信</report>\n")
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, allow_unicode=True, sort_keys=False))
    journal_key = directory / "journal.key"
    journal_key.write_text(secrets.token_hex(32))
    journal_key.chmod(0o600)
    env = {
        **os.environ,
        "DR_RUNBOOKS": str(RUNBOOKS),
        "DR_DB": f"sqlite:///{directory}/journal.sqlite3",
        "DR_LANG": "en",
        "XDG_STATE_HOME": str(directory / "state"),
        "CONSOLE_TEST_SMTP_PASSWORD": SMTP_PASSWORD,
        "DR_JOURNAL_KEY": f"file:{journal_key}",
    }
    env.pop("DR_OPERATOR", None)
    return ConsoleSite(directory, path, port, mailbox, cert, env)


def serving(site: ConsoleSite, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """`dr serve` until the test ends; waits until it answers TLS on its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "serve", "-i", str(site.inventory), *extra],
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_serving(site, process)
        yield process
    finally:
        stop_server(process)


def _wait_until_serving(site: ConsoleSite, process: subprocess.Popen[str]) -> None:
    context = ssl.create_default_context(cafile=str(site.certificate))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"dr serve exited {process.returncode}: {out}\n{err}")
        try:
            with (
                socket.create_connection(("127.0.0.1", site.port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("dr serve did not start answering within 60s")
