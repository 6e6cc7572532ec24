"""Webhook notices as the real HTTP receiver (tests/support/notify_receivers.py) takes
them, refusing what is over each bot's documented size: long notices arrive in numbered
parts that every bot accepts, mentions are written as the vendors' examples write them,
and a retry goes on from the part that failed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.notify.delivery import deliver
from orchestrator.notify.message import Message
from orchestrator.text import Text
from tests.support.notify_receivers import DINGTALK_SECRET, FEISHU_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def hooks(http_receiver, monkeypatch, tmp_path: Path):
    http_receiver.clear()
    monkeypatch.setenv("W_WECOM_URL", http_receiver.url("/wecom?key=bot-token"))
    monkeypatch.setenv("W_DINGTALK_URL", http_receiver.url("/dingtalk?access_token=t"))
    monkeypatch.setenv("W_DINGTALK_SECRET", DINGTALK_SECRET)
    monkeypatch.setenv("W_FEISHU_URL", http_receiver.url("/feishu"))
    monkeypatch.setenv("W_FEISHU_SECRET", FEISHU_SECRET)
    doc = {
        "name": "webhook-limits",
        "environment": "drill",
        "contacts": [
            # No WeCom or DingTalk id: mentioned by mobile, written as the bots match it.
            {"name": "duty-wang", "role": "duty-operator", "phone": "+86 138 0000 0001"},
            {"name": "tech-zhang", "role": "tech-team", "dingtalk": "zhang01", "feishu": "ou_z"},
            {"name": "office-liu", "role": "emergency-office", "phone": "0571-8888 0000"},
        ],
        "notifications": {
            "webhooks": [
                {"name": "duty", "kind": "wecom", "url": "env:W_WECOM_URL", "language": "zh"},
                {
                    "name": "tech",
                    "kind": "dingtalk",
                    "url": "env:W_DINGTALK_URL",
                    "secret": "env:W_DINGTALK_SECRET",
                },
                {
                    "name": "leaders",
                    "kind": "feishu",
                    "url": "env:W_FEISHU_URL",
                    "secret": "env:W_FEISHU_SECRET",
                },
            ],
            "retries": 2,
            "backoff": 0,
        },
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    yield http_receiver, load_inventory(path), journal
    journal.close()


def notice(lines: int) -> Message:
    zh = "\n".join(f"第{n}项：网点 branch-{n} 线路中断，已切换至备用线路" for n in range(lines))
    en = "\n".join(
        f"item {n}: branch-{n} line down, moved to the backup line" for n in range(lines)
    )
    return Message(
        key=f"INC-7:level:orange:{lines}",
        level="orange",
        title=Text(zh="橙色预警 INC-7", en="Orange alert INC-7"),
        body=Text(zh=zh, en=en),
        recipients=("duty-wang", "tech-zhang", "office-liu"),
        context={"incident_id": "INC-7"},
    )


def test_short_notices_mention_as_each_vendor_documents(hooks):
    http, inventory, journal = hooks
    results = deliver(notice(3), inventory, journal, sleep=lambda _s: None)
    assert all(r.ok for r in results), results
    [wecom] = http.on("/wecom")
    assert wecom["body"]["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert wecom["body"]["text"]["mentioned_list"] == []
    [ding] = http.on("/dingtalk")
    assert ding["reply"]["errcode"] == 0
    assert ding["body"]["at"] == {
        "atUserIds": ["zhang01"],
        "atMobiles": ["13800000001"],
        "isAtAll": False,
    }
    # The text itself carries each "@": without it DingTalk shows no mention.
    assert ding["body"]["text"]["content"].endswith("\n@zhang01 @13800000001")
    [feishu] = http.on("/feishu")
    assert '<at user_id="ou_z">tech-zhang</at>' in feishu["body"]["content"]["text"]


def test_a_notice_longer_than_a_bot_takes_arrives_in_parts_every_bot_accepts(hooks):
    http, inventory, journal = hooks
    message = notice(300)  # about 20 kB in both languages, 9 kB in Chinese alone
    assert len(message.text("zh").encode()) > 2048  # one WeCom post would be refused
    results = deliver(message, inventory, journal, sleep=lambda _s: None)
    assert all(r.ok and r.attempts == 1 for r in results), results
    for path in ("/wecom", "/dingtalk", "/feishu"):
        posts = http.on(path)
        assert len(posts) > 1, path
        assert all(p["reply"].get("errcode", p["reply"].get("code")) == 0 for p in posts)
    wecom = [p["body"]["text"] for p in http.on("/wecom")]
    assert [t["content"].split(" ", 1)[0] for t in wecom] == [
        f"({i}/{len(wecom)})" for i in range(1, len(wecom) + 1)
    ]
    assert all(len(t["content"].encode()) <= 2048 for t in wecom)
    # Mentioned once, in the first part: one alert per person, not one per part.
    assert wecom[0]["mentioned_mobile_list"] == ["13800000001"]
    assert all(t["mentioned_mobile_list"] == [] for t in wecom[1:])
    ding = [p["body"] for p in http.on("/dingtalk")]
    assert "@zhang01" in ding[0]["text"]["content"]
    assert all("@zhang01" not in b["text"]["content"] for b in ding[1:])


def test_a_very_long_notice_is_cut_with_word_of_where_the_full_text_is(hooks):
    http, inventory, journal = hooks
    results = deliver(notice(2000), inventory, journal, sleep=lambda _s: None)
    assert all(r.ok for r in results), results
    wecom = [p["body"]["text"]["content"] for p in http.on("/wecom")]
    assert len(wecom) == 5 and wecom[-1].endswith(
        "全文见邮件通知，通知编号 INC-7:level:orange:2000）"
    )
    ding = [p["body"]["text"]["content"] for p in http.on("/dingtalk")]
    assert len(ding) == 5 and "the full text is in the e-mail notice" in ding[-1]


def test_a_retry_goes_on_from_the_part_that_failed(hooks):
    http, inventory, journal = hooks
    http.fail_nth["/wecom"] = 2  # the second part is answered 500, once
    results = deliver(notice(300), inventory, journal, sleep=lambda _s: None)
    [wecom_result] = [r for r in results if r.channel == "webhook:duty"]
    assert wecom_result.ok and wecom_result.attempts == 2
    posts = http.on("/wecom")
    accepted = [p["body"]["text"]["content"][:6] for p in posts if p["status"] == 200]
    # Each part reached the group exactly once, in order.
    assert accepted == sorted(set(accepted)) and accepted[0].startswith("(1/")
    assert [p["status"] for p in posts].count(500) == 1
    assert len(accepted) == len(posts) - 1
