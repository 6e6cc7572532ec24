"""The journal's head anchored outside its database, and `dr journal verify` against it.

Real parts: moto's S3 over TLS with Object Lock (tests/support/s3_tls.py), a real sshd
whose filesystem is "the backup host", and real `dr` processes for init-key, verify and
report. A drill runs in-process and anchors at its end; then the journal is rewritten
the three ways the issue names, each by what an attacker with the database (and not the
key) can do, and verify must name each against each anchor place.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.errors import EXIT_FAILED, EXIT_UNVERIFIED
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.journal.key import load_key
from orchestrator.local_machine import find_free_port
from tests.support.s3_tls import TlsMotoServer, write_certificate
from tests.unit.test_journal_key import _recompute_chain

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"
S3_ENV = {"DR_TEST_ANCHOR_ID": "anchor-writer", "DR_TEST_ANCHOR_SECRET": "anchor-secret"}


@dataclass
class Site:
    tmp: Path
    inventory: Path
    db: Path
    env: dict[str, str]
    s3_url: str
    ca_file: Path
    anchor_file: Path
    bucket: str

    def dr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def journal(self) -> Journal:
        return Journal(f"sqlite:///{self.db}", load_key(None))

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            verify=str(self.ca_file),
        )


@pytest.fixture
def moto_tls(tmp_path: Path) -> Iterator[tuple[TlsMotoServer, Path]]:
    cert, key = write_certificate(tmp_path)
    server = TlsMotoServer(find_free_port(), cert, key)
    server.start()
    yield server, cert
    server.stop()


def _inventory(
    tmp: Path, sshd, s3_url: str, ca: Path, anchor_file: Path, port: int, bucket: str
) -> Path:
    document = yaml.safe_load((DATA / "engine-drill.yaml").read_text())
    document["hosts"].append(
        {
            "name": "backup-1",
            "address": "127.0.0.1",
            "site": "dc",
            "roles": ["backup"],
            "ssh": {
                "port": port,
                "user": sshd.endpoint("backup-1").user,
                "key_file": str(sshd.client_key_file),
                "known_hosts": str(sshd.known_hosts_file),
                "connect_timeout": 5,
            },
        }
    )
    document["journal"] = {
        "anchors": [
            {
                "s3": {
                    "endpoint": s3_url,
                    "bucket": bucket,
                    "access_key_id": "env:DR_TEST_ANCHOR_ID",
                    "secret_access_key": "env:DR_TEST_ANCHOR_SECRET",
                    "ca_file": str(ca),
                    "retention": {"days": 1, "mode": "compliance"},
                }
            },
            {"ssh_file": {"host": "backup-1", "path": str(anchor_file)}},
        ]
    }
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def site(tmp_path: Path, sshd_server, moto_tls, monkeypatch) -> Site:
    server, ca = moto_tls
    anchor_file = tmp_path / "backup-host" / "journal-anchors.jsonl"
    db = tmp_path / "journal.sqlite3"
    key = tmp_path / "keys" / "journal.key"
    # moto keeps its buckets in the process: one bucket per test keeps anchors apart.
    bucket = f"dr-anchors-{secrets.token_hex(4)}"
    inventory = _inventory(
        tmp_path, sshd_server, server.url, ca, anchor_file, sshd_server.port, bucket
    )
    env = {**os.environ, **S3_ENV, "DR_DB": f"sqlite:///{db}", "DR_JOURNAL_KEY": str(key)}
    env["DR_LANG"] = "en"
    for name, value in {**S3_ENV, "DR_JOURNAL_KEY": str(key)}.items():
        monkeypatch.setenv(name, value)
    made = Site(tmp_path, inventory, db, env, server.url, ca, anchor_file, bucket)
    made.s3().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    created = made.dr("journal", "init-key")
    assert created.returncode == 0, created.stderr
    assert "key id" in created.stdout and oct(key.stat().st_mode & 0o777) == "0o600"
    again = made.dr("journal", "init-key")
    assert again.returncode == 2 and "never overwritten" in again.stderr
    return made


def _drill(site: Site, inventory: Path | None = None) -> tuple[str, str]:
    journal = site.journal()
    engine = Engine(journal, RunbookRegistry.discover([DATA / "runbooks"]))
    options = RunOptions(
        mode="drill", operator="duty-wang", params={"lost_minutes_ago": "3"}, auto_confirm=True
    )
    outcome = engine.start("measured", load_inventory(inventory or site.inventory), options)
    journal.close()
    return outcome.run_id, outcome.message


def test_a_run_anchors_its_head_in_s3_under_object_lock_and_in_the_backup_hosts_file(site):
    _run_id, message = _drill(site)
    assert "WARNING" not in message
    journal = site.journal()
    anchored = journal.events(kinds=("journal.anchored",))
    assert sorted(e.data["place"] for e in anchored) == ["s3", "ssh_file"]
    [line] = site.anchor_file.read_text().splitlines()
    anchor = json.loads(line)
    assert anchor["journal_id"] == journal.journal_id() and anchor["algorithm"] == "hmac-sha256"
    assert journal.event_link(anchor["seq"]) == (anchor["hash"], anchor["event_mac"])
    s3 = site.s3()
    [listed] = s3.list_object_versions(Bucket=site.bucket)["Versions"]
    head = s3.head_object(Bucket=site.bucket, Key=listed["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(Exception, match=r"AccessDenied|locked|retention"):
        s3.delete_object(Bucket=site.bucket, Key=listed["Key"], VersionId=listed["VersionId"])
    verified = site.dr("journal", "verify", "-i", str(site.inventory), "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["ok"] and doc["algorithm"] == "hmac-sha256" and len(doc["anchors"]) == 2


@pytest.mark.parametrize("place", ["s3", "ssh_file"])
def test_verify_detects_an_edited_event_with_the_chain_and_head_recomputed(site, place):
    _drill(site)
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    _recompute_chain(site.db, strip_macs=True)  # even with the MACs stripped
    result = site.dr("journal", "verify", "-i", str(site.inventory), "--anchor", place, "--json")
    assert result.returncode == EXIT_FAILED
    kinds = {f["kind"] for f in json.loads(result.stdout)["findings"]}
    assert "rewritten" in kinds, result.stdout
    text = site.dr("journal", "verify", "-i", str(site.inventory), "--anchor", place)
    assert "history was rewritten" in text.stdout and "历史被改写" in text.stdout


@pytest.mark.parametrize("place", ["s3", "ssh_file"])
def test_verify_detects_the_newest_events_deleted_and_the_head_moved_back(site, place):
    _drill(site)
    with sqlite3.connect(site.db) as conn:
        seq = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        keep = seq - 6
        conn.execute("DELETE FROM events WHERE seq > ?", (keep,))
        last = conn.execute("SELECT hash FROM events WHERE seq = ?", (keep,)).fetchone()[0]
        conn.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (keep, last))
    plain = site.dr("journal", "verify")  # without the anchor, the shortened chain holds
    assert plain.returncode == 0, plain.stdout
    result = site.dr("journal", "verify", "-i", str(site.inventory), "--anchor", place)
    assert result.returncode == EXIT_FAILED
    assert "truncated" in result.stdout and "the newest events were deleted" in result.stdout


@pytest.mark.parametrize("place", ["s3", "ssh_file"])
def test_verify_detects_the_whole_database_replaced_by_a_forged_one(site, place):
    _drill(site)
    for leftover in site.tmp.glob("journal.sqlite3*"):
        leftover.unlink()
    forged = Journal(f"sqlite:///{site.db}")  # the forger has no key
    for n in range(40):
        forged.append("note", data={"n": n})
    forged.close()
    result = site.dr("journal", "verify", "-i", str(site.inventory), "--anchor", place)
    assert result.returncode == EXIT_FAILED
    assert "the database was replaced" in result.stdout and "数据库被整体替换" in result.stdout


def test_an_edited_measurement_makes_the_report_refuse(site):
    run_id, _ = _drill(site)
    before = site.dr("report", "drill", run_id, "-f", "json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["verification"]["algorithm"] == "hmac-sha256"
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE measurements SET value_seconds = 1.0, met = 1")
    after = site.dr("report", "drill", run_id, "-f", "json")
    assert after.returncode == EXIT_UNVERIFIED
    assert after.stdout == ""
    assert "measurements table is 1.0" in after.stderr and "拒绝输出" in after.stderr
    shown = site.dr("runs", "show", run_id)
    assert shown.returncode == EXIT_UNVERIFIED


def test_a_failed_anchor_is_journaled_and_flagged_but_the_run_still_succeeds(site):
    document = yaml.safe_load(site.inventory.read_text())
    document["hosts"][-1]["ssh"]["port"] = find_free_port()  # nobody listens there
    broken = site.tmp / "broken.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    _run_id, message = _drill(site, broken)
    assert "WARNING: the journal anchor could not be written" in message
    journal = site.journal()
    [run] = journal.list_runs()
    assert run.status == "succeeded"
    [failed] = journal.events(kinds=("journal.anchor_failed",))
    assert failed.data["place"] == "ssh_file" and failed.data["error"]
    assert [e.data["place"] for e in journal.events(kinds=("journal.anchored",))] == ["s3"]


def test_the_scheduler_anchors_on_its_interval_job(site):
    from orchestrator.scheduler import jobs
    from orchestrator.scheduler.daemon import job_specs

    inventory = load_inventory(site.inventory)
    [spec] = [s for s in job_specs(inventory) if s.id == "anchor-journal"]
    assert spec.func == jobs.ANCHOR_JOURNAL and spec.trigger.interval.total_seconds() == 3600
    _drill(site)
    env = jobs.JobEnvironment(site.inventory, f"sqlite:///{site.db}", site.tmp / "textfile")
    assert jobs.anchor_journal_head(env=env) == {"anchored": 2, "failed": 0}
    assert len(site.anchor_file.read_text().splitlines()) == 2
    listed = site.s3().list_objects_v2(Bucket=site.bucket)["Contents"]
    assert len(listed) == 2
    assert site.dr("journal", "verify", "-i", str(site.inventory)).returncode == 0


def test_dr_journal_anchor_also_tells_the_roster_in_both_languages(site, http_receiver):
    path = f"/anchor-{os.getpid()}-{site.tmp.name}"
    document = yaml.safe_load(site.inventory.read_text())
    document["notifications"] = {
        "webhooks": [{"name": "duty-group", "url": "env:DR_TEST_ANCHOR_HOOK", "levels": ["blue"]}],
        "retries": 1,
    }
    document["journal"]["anchors"].append({"notify": {"roles": ["leadership"]}})
    told = site.tmp / "told.yaml"
    told.write_text(yaml.safe_dump(document, sort_keys=False))
    site.env["DR_TEST_ANCHOR_HOOK"] = http_receiver.url(path)
    _drill(site, site.inventory)
    result = site.dr("journal", "anchor", "-i", str(told), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(r["place"] for r in json.loads(result.stdout)) == ["notify", "s3", "ssh_file"]
    [posted] = http_receiver.on(path)
    said = json.dumps(posted["body"], ensure_ascii=False)
    head = site.journal().event_link(json.loads(result.stdout)[0]["seq"])
    assert head is not None and head[0][:16] in said
    assert "日志锚点" in said and "Journal anchor" in said


# A year at one county union: a backup run a day for each of three sets (a few dozen
# events each), the hourly anchor job (8,760 anchors), the monthly restore tests, drills
# and incidents: some 25,000 events.
YEAR_OF_EVENTS = 25_000


def test_a_years_journal_verifies_against_its_anchors_and_an_edit_inside_it_is_named(site):
    journal = site.journal()
    for n in range(YEAR_OF_EVENTS):
        kind = ("backup.finished", "journal.anchored", "fact")[n % 3]
        journal.append(kind, data={"n": n, "set": f"set-{n % 3}", "bytes": 1_000_000 + n})
    journal.close()
    _drill(site)  # a drill at the end of the year anchors the head
    verified = site.dr("journal", "verify", "-i", str(site.inventory), "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["ok"] and doc["checked"] > YEAR_OF_EVENTS and len(doc["anchors"]) == 2

    middle = YEAR_OF_EVENTS // 2
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE events SET data = '{\"n\": 0}' WHERE seq = ?", (middle,))
    _recompute_chain(site.db)  # every SHA-256 link and the head, as an attacker would
    result = site.dr("journal", "verify", "-i", str(site.inventory), "--json")
    assert result.returncode == EXIT_FAILED
    found = json.loads(result.stdout)
    assert found["first_bad_seq"] == middle, found
    assert "rewritten" in {f["kind"] for f in found["findings"]}
