"""Notices keep their secrets (issue 17, item 5): a malformed webhook URL neither leaks
its token nor stops later notices; SMTP never sends a login in the clear unless a drill
inventory says so."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.notify.delivery import deliver
from orchestrator.notify.message import Message
from orchestrator.text import Text
from tests.support.notify_receivers import SMTP_PASSWORD, SMTP_USER, HttpReceiver, MailBox

pytestmark = pytest.mark.integration

TOKEN = "tok-9f8e7d6c5b4a"
MALFORMED = [
    f"htps//qyapi.example/cgi-bin/webhook/send?key={TOKEN}",
    f"http://qyapi.example:port{TOKEN}/send",
    f"http://qyapi.example/send?key={TOKEN}\r\nX-Injected: 1",
    f"file:///etc/passwd?key={TOKEN}",
    f"http://[::1/send?key={TOKEN}",
]


def inventory(tmp_path: Path, notifications: dict[str, Any], environment: str = "drill") -> Path:
    doc = {
        "name": "notify-test",
        "environment": environment,
        "contacts": [{"name": "duty", "role": "duty-operator", "email": "duty@lab.invalid"}],
        "escalation": {"blue": ["duty"]},
        "notifications": {"retries": 1, "backoff": 0, **notifications},
    }
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def message() -> Message:
    return Message("k1", "blue", Text(zh="测试", en="test"), Text(zh="正文", en="body"), ("duty",))


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    j = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    yield j
    j.close()


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_webhook_url_neither_leaks_nor_blocks_the_next_notice(
    tmp_path: Path,
    journal: Journal,
    http_receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    url: str,
) -> None:
    http_receiver.clear()
    monkeypatch.setenv("H_BAD_URL", url)
    monkeypatch.setenv("H_GOOD_URL", http_receiver.url("/generic"))
    hooks = [
        {"name": "broken", "url": "env:H_BAD_URL"},
        {"name": "working", "url": "env:H_GOOD_URL"},
    ]
    inv = load_inventory(inventory(tmp_path, {"webhooks": hooks}))
    caplog.set_level(logging.DEBUG)
    broken, working = deliver(message(), inv, journal, sleep=lambda _: None)
    assert not broken.ok and broken.attempts == 1  # permanent: not retried
    assert working.ok and len(http_receiver.on("/generic")) == 1
    everything = repr(journal.events()) + caplog.text + repr(broken)
    assert TOKEN not in everything
    assert "H_BAD_URL" in (broken.error or "")


def test_smtp_refuses_a_login_without_tls(
    tmp_path: Path, journal: Journal, mailbox: tuple[MailBox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, port = mailbox
    box.clear()
    monkeypatch.setenv("H_SMTP_PASSWORD", SMTP_PASSWORD)
    smtp = {
        "host": "127.0.0.1",
        "port": port,
        "from": "dr@lab.invalid",
        "username": SMTP_USER,
        "password": "env:H_SMTP_PASSWORD",
    }
    inv = load_inventory(inventory(tmp_path, {"smtp": smtp}))
    [result] = deliver(message(), inv, journal, sleep=lambda _: None)
    assert not result.ok and "without TLS" in (result.error or "")
    assert box.logins == [] and box.messages == []

    # A drill may allow it, explicitly.
    allowed = load_inventory(inventory(tmp_path, {"smtp": {**smtp, "allow_cleartext_login": True}}))
    [result] = deliver(message(), allowed, journal, sleep=lambda _: None)
    assert result.ok and box.logins == [SMTP_USER]


def test_cleartext_login_is_refused_in_a_production_inventory(tmp_path: Path) -> None:
    smtp = {
        "host": "127.0.0.1",
        "from": "dr@lab.invalid",
        "username": SMTP_USER,
        "password": "env:H_SMTP_PASSWORD",
        "allow_cleartext_login": True,
    }
    with pytest.raises(InventoryError) as err:
        load_inventory(inventory(tmp_path, {"smtp": smtp}, environment="production"))
    [problem] = err.value.problems
    assert problem.field == "notifications.smtp.allow_cleartext_login"
    assert "may not send the SMTP login without TLS" in problem.message


def test_a_notice_nobody_can_receive_says_what_to_fix(tmp_path: Path, journal: Any) -> None:
    """An empty roster and a roster without addresses are different mistakes; each failed
    notice names its own fix, and is journaled as failed."""
    smtp = {"smtp": {"host": "127.0.0.1", "port": 1, "from": "dr@lab.invalid"}}
    inv = load_inventory(inventory(tmp_path, smtp))
    empty = Message("k2", "orange", Text(zh="测试", en="test"), Text(zh="正文", en="body"), ())
    [nobody] = deliver(empty, inv, journal, sleep=lambda _: None)
    assert not nobody.ok and "escalation.orange" in (nobody.error or "")
    no_address = Message("k3", "blue", Text(zh="测", en="t"), Text(zh="文", en="b"), ("ghost",))
    [unreachable] = deliver(no_address, inv, journal, sleep=lambda _: None)
    assert not unreachable.ok and "ghost have no e-mail address" in (unreachable.error or "")
    failed = [e for e in journal.events() if e.kind == "notification.failed"]
    assert {e.data["key"] for e in failed} == {"k2", "k3"}
