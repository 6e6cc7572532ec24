"""The lab's credit pair archives for real (pgBackRest into the data centre's repository
and the offsite S3 one over TLS), and the faults a restore answers: a logical
corruption replicated to the standby, and the loss of the whole data centre, after
which the backup room's host restores from S3 alone and serves.

The session's one lab (`lab` fixture); each test heals what it broke before it ends.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backups.pgbackrest.restore import RecoveryTarget
from backups.pitr.restore import restore_cluster
from lab import netns, pitr
from lab.credit.observe import acknowledged_writes, lost_writes
from lab.logical_corruption import deleted_rows, load_record
from lab.pair_reset import reset_pair
from lab.topology import LabTopology
from orchestrator.engine.endpoints import ssh_endpoint
from orchestrator.journal import Journal
from orchestrator.journal.records import MeasurementRecord, RunRecord
from orchestrator.local_machine import wait_until
from orchestrator.postgresql.status import parse_status
from orchestrator.transports.ssh import SshTransport

pytestmark = pytest.mark.integration
TOPO = LabTopology(branches=2)
SET = "credit-pitr"


def _dr(lab: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestrator.cli.main", "backup", *args, SET]
    command += ["-i", str(lab.state.inventory_file), "--db", f"sqlite:///{tmp_path / 'j.db'}"]
    return subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


def _acked(lab: Any, kind: str) -> int:
    return sum(
        1 for w in acknowledged_writes(lab.state.observe / "loadgen.jsonl") if w.kind == kind
    )


def _lost(lab: Any, host: str) -> set[tuple[str, int]]:
    """Acknowledged writes the database on `host` lacks: (kind, id). Drills earlier in
    the session may have lost some already; tests compare with what was lost before."""
    lost = lost_writes(lab.state.observe / "loadgen.jsonl", lab.credit_dsn(TOPO, host))
    return {(w.kind, w.id) for w in lost}


def _listing(lab: Any, tmp_path: Path) -> dict[str, Any]:
    listed = _dr(lab, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    return dict(json.loads(listed.stdout))


def test_a_fresh_lab_archives_into_both_repositories_while_the_load_generator_writes(
    lab: Any, tmp_path: Path
) -> None:
    archive_timeout = pitr.context(lab.state).backup_set.archive_timeout
    assert wait_until(lambda: _acked(lab, "loan") >= 10, timeout=30)
    checked = _dr(lab, tmp_path, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["archiving"]["ok"] and [r["ok"] for r in verdict["repositories"]] == [True, True]

    first = _listing(lab, tmp_path)
    for repo in first["repositories"]:
        assert repo["error"] is None, repo
        assert [b["type"] for b in repo["backups"]][:1] == ["full"], repo  # made by `lab up`
    assert "10.77.0.1:19443" in first["repositories"][1]["location"]  # the TLS front
    newest = {r["repository"]: r["wal"]["newest"] for r in first["repositories"]}

    # Archiving goes on by itself: within an archive_timeout (and the push) a newer
    # segment reaches both repositories, and the newest is never older than that.
    def advanced() -> bool:
        listing = _listing(lab, tmp_path)
        return all(
            r["wal"]["newest"] > newest[r["repository"]]
            and r["newest_wal_age_seconds"] < archive_timeout
            for r in listing["repositories"]
        )

    assert wait_until(advanced, timeout=archive_timeout * 2 + 10, interval=2)
    assert _listing(lab, tmp_path)["rpo"]["met"] is True


def test_s3_down_cuts_the_tls_front_too(lab: Any) -> None:
    s3 = lab.s3()
    lab.fault("s3-down", [])
    try:
        assert s3.status()["pids"]["tls"] is None
        assert not _tls_answers(s3.tls_endpoint, lab.state.ca_file)
    finally:
        lab.heal("s3-down", [])
    assert _tls_answers(s3.tls_endpoint, lab.state.ca_file)


def _tls_answers(endpoint: str, ca_file: Path) -> bool:
    """A verified TLS handshake with the front, from the backup host's namespace."""
    host, port = endpoint.split(":")
    probe = (
        "import socket,ssl,sys; c=ssl.create_default_context(cafile=sys.argv[3]); "
        "s=c.wrap_socket(socket.create_connection((sys.argv[1],int(sys.argv[2])),2),"
        "server_hostname=sys.argv[1]); s.close()"
    )
    argv = netns.in_netns(TOPO.namespace("backup"), [sys.executable, "-c", probe])
    result = subprocess.run([*argv, host, port, str(ca_file)], capture_output=True, timeout=20)
    return result.returncode == 0


def test_logical_corruption_deletes_acknowledged_rows_everywhere_and_heal_puts_them_back(
    lab: Any,
) -> None:
    assert wait_until(lambda: _acked(lab, "repayment") >= 15, timeout=60)
    lost_before = _lost(lab, "dc-a")
    key, report = lab.apply("logical-corruption", [], heal=False)
    try:
        assert report is not None and key in lab.state.load().faults
        deleted = report["deleted"]["repayments"]
        assert deleted > 1000
        assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", report["before_lsn"])
        assert report["xid"].isdigit() and report["host"] == "dc-a"
        assert datetime.fromisoformat(report["before_time"]) <= datetime.now().astimezone()
        record = load_record(lab.state)
        rows = deleted_rows(record)
        assert len(rows) == deleted
        for private in (Path(report["record"]), Path(record.rows_file)):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600
        ids = [row["id"] for row in rows]
        # Acknowledged writes of the load generator were among them ...
        lost = _lost(lab, "dc-a") - lost_before
        assert lost and lost <= {("repayment", i) for i in ids}
        # ... and the standby lost them too.
        standby = lab.postgres(TOPO, "dc-b")
        query = f"SELECT count(*) FROM repayments WHERE id IN ({','.join(map(str, ids))})"
        assert wait_until(lambda: standby.psql(query, database="credit").strip() == "0", timeout=10)
    finally:
        _, healed = lab.apply("logical-corruption", [], heal=True)
    assert healed is not None and healed["put_back"] == deleted and healed["loan_missing"] == 0
    assert "logical-corruption" not in lab.state.load().faults
    assert _lost(lab, "dc-a") == lost_before


def test_after_site_loss_the_backup_room_restores_from_s3_alone_and_serves(
    lab: Any, lab_inventory: Any, tmp_path: Path
) -> None:
    ctx = pitr.context(lab.state)
    timeout = ctx.backup_set.archive_timeout
    backup_host = lab_inventory.host("backup")
    assert wait_until(lambda: _acked(lab, "loan") >= 20, timeout=30)
    lost_before = lost_writes(lab.state.observe / "loadgen.jsonl", lab.credit_dsn(TOPO, "dc-a"))
    _, report = lab.apply("site-loss", [], heal=False)
    lost_at = datetime.now().astimezone()
    # The run a site-loss runbook would make (the runbooks are tested on their own).
    db = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    journal = Journal(db)
    journal.create_run(_run_standing_for_a_runbook(lab, lost_at))
    try:
        assert report is not None and report["powered_off"] == ["dc-a", "dc-b"]
        for host in ("dc-a", "dc-b"):
            assert netns.namespace_pids(TOPO.namespace(host)) == []
            assert not lab.postgres(TOPO, host).is_running
        assert not lab.state.dc_repo.exists() and Path(report["kept_at"]).is_dir()

        cluster = ctx.backup_set.cluster_on("backup")
        assert cluster is not None
        began = time.monotonic()
        restored = restore_cluster(ctx, Path(cluster.path), RecoveryTarget.latest(), repository=2)
        assert restored["status"] == "ok"
        with SshTransport() as ssh:
            endpoint = ssh_endpoint(backup_host, lab_inventory, mode="live")
            control = f"{lab.state.root}/bin/dr-lab-host backup"
            started = ssh.run(endpoint, f"{control} db-start", timeout=120)
            assert started.ok, started.stderr

            def promoted() -> bool:
                result = ssh.run(endpoint, f"{control} db-status", timeout=30)
                return result.ok and parse_status(result.stdout).in_recovery is False

            assert wait_until(promoted, timeout=120, interval=0.5)
            print(f"restore and recovery at the backup room: {time.monotonic() - began:.1f}s")
            # It runs in the backup host's namespace: its WAL came through the TLS front.
            server = lab.postgres(TOPO, "backup")
            assert server.postmaster_pid in netns.namespace_pids(TOPO.namespace("backup"))
            assert "restored log file" in server.log_file.read_text()
            assert ssh.run(endpoint, f"{control} service-start", timeout=60).ok
            # As the runbooks move it (runbooks/_dual_host.take_vip): gratuitous ARP, so
            # the core stops sending to the dead host's address at once.
            moved = ssh.run(
                endpoint,
                f"ip addr replace {TOPO.vip}/{TOPO.vip_prefix} dev lan0 && "
                f"{{ arping -q -U -c 2 -I lan0 {TOPO.vip}; true; }}",
            )
            assert moved.ok, moved.stderr
            assert ssh.run(endpoint, f"{control} service-running").ok
        assert lab.serving_host() == "backup"
        dsn_file = lab.state.secrets / "credit_dsn_backup"
        assert dsn_file.read_text().startswith("host=127.0.0.1 ")  # its own database
        # The branches' probers see the service again, and new writes land at the
        # backup room's database.
        assert wait_until(lambda: _answered_since(lab, lost_at), timeout=30)

        def loans() -> int:
            return int(server.psql("SELECT count(*) FROM loans", database="credit"))

        before = loans()
        assert wait_until(lambda: loans() > before, timeout=20)
        # At most the writes of the last archive_timeout (and the push) were lost.
        lost = lost_writes(lab.state.observe / "loadgen.jsonl", lab.credit_dsn(TOPO, "backup"))
        earlier = {(w.kind, w.id) for w in lost_before}
        new = [w for w in lost if (w.kind, w.id) not in earlier]
        assert all(w.acked_at > lost_at - timedelta(seconds=timeout + 5) for w in new), new
        print(f"site loss: {len(new)} acknowledged writes lost")
        # `dr lab observe` counts them where the service answers now, beside the RPO
        # the run recorded.
        runbook_rpo = MeasurementRecord.judged("rpo_seconds", 9.5, 60, source="runbook", detail={})
        journal.record_measurement(RUN_ID, runbook_rpo)
        journal.set_run_status(RUN_ID, "succeeded", finished=True)
        observed = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "lab", "observe", RUN_ID,
             "--branch", "branch-1", "--db", db],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert observed.returncode == 0, observed.stderr
        line = next(x for x in observed.stdout.splitlines() if "rpo_seconds" in x)
        assert f"acknowledged writes lost: {len(lost)} (checked on backup)" in line, line
        assert "runbook's rpo_seconds: 9.5s" in line
    finally:
        _, healed = lab.apply("site-loss", [], heal=True)
        assert healed is not None and lab.state.dc_repo.is_dir()
        assert "site-loss" not in lab.state.load().faults
        for host in ("dc-a", "dc-b"):
            assert lab.postgres(TOPO, host).is_running
        reset_pair(lab)
    assert lab.serving_host() == "dc-a"
    assert not lab.postgres(TOPO, "backup").has_cluster


RUN_ID = "lab-pitr-site-loss"


def _run_standing_for_a_runbook(lab: Any, started: datetime) -> RunRecord:
    return RunRecord(
        id=RUN_ID, runbook="site-loss", runbook_digest="0" * 64, mode="drill",
        status="running", inventory_path=str(lab.state.inventory_file),
        inventory_digest="0" * 64, inventory_name="dr-drill-lab", environment="drill",
        started_by="duty-wang", started_at=started.isoformat(),
    )  # fmt: skip


def _answered_since(lab: Any, moment: datetime) -> bool:
    for n in (1, 2):
        status = json.loads((lab.state.observe / f"prober-branch-{n}.json").read_text())
        since = datetime.fromisoformat(status["since"])
        if status["state"] != "up" or since <= moment:
            return False
    return True
