"""The parts of job alerting that need no server: the dead-man's switch's URLs and bodies,
the `scheduler.pings` field, which findings open which incident level, and the words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import InventoryError, UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.masking import remember_secret
from orchestrator.scheduler.daemon import job_specs
from orchestrator.scheduler.deadman import MAX_REASON, check_pings, ping_body, ping_url
from orchestrator.scheduler.job_alerts import (
    MAX_REASON as SUMMARY_MAX,
)
from orchestrator.scheduler.job_alerts import (
    JobOutcome,
    JobRun,
    missed_outcome,
    summary,
)


def inventory_file(tmp_path: Path, scheduler: dict[str, Any]) -> Path:
    document = {
        "name": "pings-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"}],
        "backup_sets": [
            {
                "name": "credit",
                "host": "db-a",
                "repository": "/srv/restic/credit",
                "password": "env:RESTIC_PASSWORD",
                "paths": ["/srv/credit"],
                "schedule": "30 1 * * *",
            },
        ],
        "scheduler": scheduler,
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_ping_urls_follow_the_healthchecks_convention() -> None:
    base = "https://hc-ping.com/0f4e6c1a-5b0e-4c7e-9d9a-3f1f2a6b7c8d"
    assert ping_url(base, "start") == base + "/start"
    assert ping_url(base, "success") == base
    assert ping_url(base, "fail") == base + "/fail"
    # A trailing slash or newline (from a file) does not double the separator.
    assert ping_url(base + "/\n", "fail") == base + "/fail"
    # A slug URL keeps its query after the path.
    slug = "https://hc.example.cn/ping/KEY/backup-credit?create=1"
    assert ping_url(slug, "start") == "https://hc.example.cn/ping/KEY/backup-credit/start?create=1"


def test_a_ping_body_names_the_job_masks_secrets_and_stays_short() -> None:
    assert json.loads(ping_body("backup:credit", "start")) == {
        "job": "backup:credit",
        "stage": "start",
    }
    remember_secret("pw-for-ping-body-test")
    doc = json.loads(ping_body("backup:credit", "fail", "restic said pw-for-ping-body-test"))
    assert doc["reason"] == "restic said ***"
    long = json.loads(ping_body("backup:credit", "fail", "x" * 5000))["reason"]
    assert len(long) == MAX_REASON and long.endswith("…")


def test_pings_name_jobs_and_hold_references_only(tmp_path: Path) -> None:
    pings = {"backup:credit": "file:secrets/ping.url", "restore-test:credit": "env:PING_RT"}
    good = load_inventory(inventory_file(tmp_path, {"pings": pings}))
    ref = good.scheduler.pings["backup:credit"]
    # A file reference is read from beside the inventory, wherever dr runs.
    assert ref.kind == "file" and Path(ref.target) == tmp_path / "secrets" / "ping.url"
    assert good.scheduler.ping_timeout == 5

    with pytest.raises(InventoryError, match="backup:SET, restore-test:SET"):
        load_inventory(inventory_file(tmp_path, {"pings": {"rpo-watchdog": "env:X"}}))
    with pytest.raises(InventoryError, match="reference"):
        # The URL itself carries the check's token: it may not be written in the file.
        load_inventory(inventory_file(tmp_path, {"pings": {"backup:credit": "https://hc/x"}}))


def test_the_daemon_refuses_pings_for_jobs_it_does_not_schedule(tmp_path: Path) -> None:
    inventory = load_inventory(inventory_file(tmp_path, {"pings": {"verify:credit": "env:X"}}))
    ids = [spec.id for spec in job_specs(inventory)]
    with pytest.raises(UserInputError, match=r"verify:credit.*backup:credit, restore-test:credit"):
        check_pings(inventory, ids)
    fine = load_inventory(inventory_file(tmp_path, {"pings": {"backup:credit": "env:X"}}))
    check_pings(fine, ids)


def test_an_rpo_breach_is_yellow_and_every_job_failure_blue() -> None:
    assert JobOutcome("rpo:credit", "rpo", False).level == "yellow"
    for kind in ("backup", "restore-test", "check", "verify", "missed"):
        assert JobOutcome(f"{kind}:credit", kind, False).level == "blue"


def test_only_a_backup_sets_jobs_alert_when_missed() -> None:
    missed = missed_outcome("restore-test:credit", "missed its run at 02:00")
    assert missed == JobOutcome(
        "restore-test:credit", "missed", False, "missed its run at 02:00", "credit"
    )
    for interval_job in ("rpo-watchdog", "textfile", "incident-tick", "anchor-journal"):
        assert missed_outcome(interval_job, "late") is None


def test_the_summary_is_bilingual_one_line_short_and_masked() -> None:
    remember_secret("pw-for-summary-test")
    text = summary(
        JobOutcome("backup:credit", "backup", False, "line one\n pw-for-summary-test " + "y" * 900)
    )
    assert text.startswith(
        "[scheduler / 调度] 备份失败 / backup failed — backup:credit: line one ***"
    )
    assert "\n" not in text and "pw-for-summary-test" not in text
    assert text.endswith("…") and len(text) < SUMMARY_MAX + 80


def test_a_job_that_gives_no_verdict_failed() -> None:
    run = JobRun("backup:credit", "backup", "credit")
    assert run.outcome().ok is False
    run.done(True)
    assert run.outcome() == JobOutcome("backup:credit", "backup", True, "", "credit")
