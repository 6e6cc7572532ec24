"""Incident rules (grades, escalation, deadlines), option checks and webhook formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.cli.incident_input import moment
from orchestrator.errors import InventoryError, UserInputError
from orchestrator.incidents import Scope, assess_grade
from orchestrator.incidents.checks import ScopeChange, changed_scope, operator_deadlines
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.incidents.records import Incident
from orchestrator.incidents.rules import escalation_applies
from orchestrator.inventory import Contact, Inventory, load_inventory
from orchestrator.inventory.notifications import Webhook
from orchestrator.notify.message import Message
from orchestrator.notify.webhooks import dingtalk_signature, feishu_signature, payload
from orchestrator.text import Text

H = 3600
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("scope", "hours", "grade"),
    [
        (Scope(), 100, None),  # not province-wide, no damage: no grade
        (Scope(provinces=1), 0.4, None),
        (Scope(provinces=1), 0.5, "III"),
        (Scope(provinces=1), 3, "II"),
        (Scope(provinces=1), 6, "I"),
        (Scope(provinces=2), 0.5, "II"),
        (Scope(provinces=2), 3, "I"),
        (Scope(impact="considerable-damage"), 0, "III"),
        (Scope(impact="serious-damage"), 0, "II"),
        (Scope(impact="major-loss"), 0, "I"),
        (Scope(provinces=2, impact="considerable-damage"), 0.5, "II"),  # the highest applies
    ],
)
def test_grade_is_the_highest_that_scope_and_duration_reach(scope, hours, grade):
    assert assess_grade(scope, hours * H) == grade


def test_escalation_periods_follow_the_seed_per_category():
    assert escalation_applies("network", "blue", Scope()) == 4 * H
    assert escalation_applies("network", "yellow", Scope()) == 24 * H
    assert escalation_applies("system", "blue", Scope()) == 48 * H
    assert escalation_applies("system", "yellow", Scope()) == 2 * H
    assert escalation_applies("equipment", "blue", Scope()) is None
    assert escalation_applies("system", "orange", Scope()) is None  # red needs judgement
    # network blue escalates only when more than half the branches are down
    assert escalation_applies("network", "blue", Scope(branches_down=3, branches_total=6)) is None
    assert escalation_applies("network", "blue", Scope(branches_down=4, branches_total=6)) == 4 * H


def _inventory() -> Inventory:
    return Inventory.model_validate(
        {
            "name": "t",
            "environment": "drill",
            "contacts": [
                {"name": "wang", "role": "duty-operator"},
                {"name": "li", "role": "leadership"},
            ],
            "escalation": {"orange": ["wang", "li"]},
        }
    )


def _incident(**changes) -> Incident:
    base = {
        "id": "INC-1",
        "inventory_name": "t",
        "inventory_path": None,
        "category": "network",
        "level": "orange",
        "level_since": T0,
        "grade": None,
        "summary": "s",
        "status": "open",
        "started_at": T0,
        "opened_by": "wang",
        "scope": Scope(),
    }
    return Incident(**{**base, **changes})


def test_deadlines_cover_regulator_reports_and_on_site_arrival_per_role():
    # The regulator's reports are owed by graded incidents (test_incident_clocks.py has
    # the ungraded case).
    found = {d.key: d for d in open_deadlines(_incident(grade="III"), _inventory(), T0)}
    assert found["regulator-initial"].due == T0 + timedelta(minutes=60)
    assert found["written-report"].due == T0 + timedelta(hours=12)
    # network orange: staff within 30 min, the leadership group within 1 h
    assert found["on-site-orange-30"].owed_by == ("wang",)
    assert found["on-site-orange-60"].owed_by == ("li",)
    assert not any(k.startswith("progress-") for k in found)

    arrived = _incident(
        grade="III", on_site={"wang": T0.isoformat()}, deadlines_met={"written-report": "x"}
    )
    keys = {d.key for d in open_deadlines(arrived, _inventory(), T0)}
    assert keys == {"regulator-initial", "on-site-orange-60"}


def test_grade_one_owes_a_progress_report_every_two_hours():
    now = T0 + timedelta(hours=4, minutes=30)
    due = {d.key: d.due for d in open_deadlines(_incident(grade="I"), _inventory(), now)}
    assert due["progress-2"] == T0 + timedelta(hours=4)  # missed
    assert due["progress-3"] == T0 + timedelta(hours=6)  # next
    reported = _incident(grade="I", last_progress_at=T0 + timedelta(hours=4, minutes=10))
    keys = {d.key for d in open_deadlines(reported, _inventory(), now)}
    # a report at 04:10 is the third window's, and the second's, late
    assert not {"progress-2", "progress-3"} & keys


def test_option_checks_say_what_to_write():
    with pytest.raises(UserInputError, match="--done 'lunch': use one of regulator-initial"):
        operator_deadlines(["lunch"])
    with pytest.raises(UserInputError, match="more than --branches-total"):
        changed_scope(Scope(), ScopeChange(branches_down=5, branches_total=3))
    with pytest.raises(UserInputError, match="cannot be negative"):
        changed_scope(Scope(), ScopeChange(provinces=-1))
    with pytest.raises(UserInputError, match="--impact 'bad': use one of major-loss"):
        changed_scope(Scope(), ScopeChange(impact="bad"))
    # A scope change keeps what it does not mention.
    known = Scope(provinces=1, branches_down=2, branches_total=9)
    assert changed_scope(known, ScopeChange(branches_down=4)) == Scope(1, 4, 9)
    local = moment("--started-at", "2026-11-27T09:00", "Asia/Shanghai")
    assert local == T0


def test_notifications_section_errors_name_the_line(tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text(
        "name: t\nenvironment: drill\nnotifications:\n  webhooks:\n"
        "    - name: ops\n      kind: wecom\n      url: https://qyapi.example/send?key=abc\n"
        "      secret: env:X\n"
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    text = caught.value.message
    assert "inv.yaml:" in text and "not the secret itself" in text  # a URL in clear
    assert "abc" not in text
    path.write_text(path.read_text().replace("https://qyapi.example/send?key=abc", "env:URL"))
    with pytest.raises(InventoryError, match="signs DingTalk and Feishu bot messages only"):
        load_inventory(path)


MESSAGE = Message(
    key="INC-1:level:yellow",
    level="yellow",
    title=Text(zh="标题", en="Title"),
    body=Text(zh="正文", en="Body"),
    recipients=("wang",),
)
WANG = Contact(name="wang", role="duty", wecom="wangw", dingtalk="d-wang", feishu="ou_w")


def _hook(kind: str) -> Webhook:
    return Webhook(name="h", kind=kind, url="env:URL", language="en")


def test_bot_payloads_follow_each_bots_text_format_and_mention_the_roster():
    assert payload(_hook("wecom"), MESSAGE, [WANG])["text"]["mentioned_list"] == ["wangw"]
    ding = payload(_hook("dingtalk"), MESSAGE, [WANG])
    assert ding["msgtype"] == "text" and ding["at"]["atUserIds"] == ["d-wang"]
    # The mention is written into the text too, as DingTalk's own examples do.
    assert ding["text"]["content"] == "Title\nBody\n@d-wang"
    feishu = payload(_hook("feishu"), MESSAGE, [WANG])
    assert feishu["msg_type"] == "text"
    assert feishu["content"]["text"].startswith("Title\nBody")
    assert '<at user_id="ou_w">wang</at>' in feishu["content"]["text"]
    generic = payload(_hook("generic"), MESSAGE, [WANG])
    assert generic["key"] == "INC-1:level:yellow" and generic["text"] == "Title\nBody"


def test_bot_signatures_are_hmac_sha256_as_documented():
    ding = dingtalk_signature("SECabc", 1700000000000)
    mac = hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    assert ding == {"timestamp": "1700000000000", "sign": base64.b64encode(mac).decode()}
    feishu = feishu_signature("abc", 1700000000)
    mac = hmac.new(b"1700000000\nabc", b"", hashlib.sha256).digest()
    assert feishu == {"timestamp": "1700000000", "sign": base64.b64encode(mac).decode()}


def test_on_site_deadlines_follow_the_seed_per_role():
    from orchestrator.incidents.rules import on_site_within

    # 001 §4.2.3: equipment orange, the emergency office within 1 h, staff within 30 min,
    # the leadership group only if needed.
    assert on_site_within("equipment", "orange", "emergency-office") == H
    assert on_site_within("equipment", "orange", "duty-operator") == H // 2
    assert on_site_within("equipment", "orange", "leadership") is None
    # 001 §4.3.3 / §4.1.4: the office within half an hour at system orange, network red.
    assert on_site_within("system", "orange", "emergency-office") == H // 2
    assert on_site_within("network", "red", "emergency-office") == H // 2


def test_a_closed_incident_from_before_the_clocks_owes_nothing_new():
    from orchestrator.incidents.records import Aftermath

    closed = {"status": "closed", "closed_at": T0, "outage_started_at": T0}
    old = _incident(**closed, aftermath=Aftermath.from_dict(None))
    assert old.aftermath.legacy and open_deadlines(old, _inventory(), T0) == []
    new = _incident(**closed)
    assert [d.key for d in open_deadlines(new, _inventory(), T0)] == ["fault-report"]


def test_a_contacts_site_must_be_a_site_of_the_inventory(tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text(
        "name: t\nenvironment: drill\nsites:\n  - {name: branch-1, kind: branch}\n"
        "contacts:\n  - {name: chen, role: branch-manager, site: branch-9}\n"
    )
    with pytest.raises(InventoryError, match=r"inv.yaml:6: contacts\[0\].site: no site named"):
        load_inventory(path)
