"""The power-outage notice: who it goes to and what it says, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.inventory import Inventory
from runbooks._power_notice import OutageFacts, outage_message

SINCE = datetime(2026, 7, 14, 6, 5, tzinfo=UTC)  # 14:05 in Asia/Shanghai


def _inventory() -> Inventory:
    return Inventory.model_validate(
        {
            "name": "notice-test",
            "environment": "production",
            "contacts": [
                {"name": "duty-wang", "role": "duty-operator", "email": "wang@x.invalid"},
                {"name": "tech-zhang", "role": "tech-team", "language": "en"},
            ],
            "escalation": {"blue": ["duty-wang"], "yellow": ["duty-wang", "tech-zhang"]},
        }
    )


def _facts(**changes: object) -> OutageFacts:
    facts = {
        "run_id": "r-42",
        "drill": False,
        "ups": "ups-a",
        "since": SINCE,
        "status": "DISCHRG OB",
        "charge_pct": 87.0,
        "runtime_s": 1510.0,
        "generator": "gen-1",
        "mains_wait_s": 600.0,
    }
    return OutageFacts(**{**facts, **changes})  # type: ignore[arg-type]


def test_the_outage_notice_goes_to_the_blue_roster_and_says_what_happens_next():
    message = outage_message(_facts(), _inventory())

    assert message.level == "blue" and message.recipients == ("duty-wang",)
    assert message.key == "r-42:power-outage:notify"
    assert message.subject("en") == "[dr] Power outage: UPS ups-a on battery"
    assert message.subject("zh") == "[dr] 停电：UPS ups-a 电池供电"
    en, zh = message.text("en"), message.text("zh")
    assert "on battery since 2026-07-14 14:05 UTC+08:00" in en
    assert "charge 87 %, about 25m of runtime" in en
    assert "not back within 10m, generator gen-1 is started" in en
    assert "dr runs show r-42" in en
    assert "自 2026-07-14 14:05 UTC+08:00 起由电池供电" in zh
    assert "电量 87%，后备时间约 25m" in zh
    assert "若 10m 内市电未恢复，将启动发电机 gen-1" in zh
    assert "请联系供电公司" in zh


def test_a_drill_notice_says_drill_and_an_unreadable_ups_still_gets_a_notice_out():
    facts = _facts(drill=True, status=None, charge_pct=None, runtime_s=None, generator=None)
    message = outage_message(facts, _inventory())

    assert message.subject("en").startswith("[dr] [drill] ")
    assert message.subject("zh").startswith("[dr] [演练] ")
    assert "cannot be read right now" in message.text("en")
    assert "No generator: the hosts shut down in priority order" in message.text("en")
    assert "暂时无法读取" in message.text("zh") and "没有发电机" in message.text("zh")
