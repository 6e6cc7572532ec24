"""The point-in-time restore test, for real: PostgreSQL 15 archiving through pgBackRest 2.45
(a local repository and an encrypted S3 one, moto over TLS) while a load generator
writes repayments; the test restores to a moment (given with `--to`, or drawn at random
by the scheduler's monthly job) into a scratch server and proves every write
acknowledged before the moment is there and none after it. No mocks.

The load generator writes for the whole module, as the credit service does in
production: a moment drawn at random always has writes around it. Scratch directories
go to a TMPDIR of the site's own, so the test can see that none is left behind.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backups.pitr.init import init_set
from backups.pitr.listing import list_backups
from backups.pitr.restore_test import restore_test
from backups.pitr.run import run_backup
from orchestrator.journal import Journal
from orchestrator.scheduler.daemon import Daemon
from orchestrator.scheduler.monitoring import TEXTFILE_NAME
from tests.support.pitr_site import REPAYMENTS, SET_NAME, Site, Writer, dr, open_site, psql

pytestmark = pytest.mark.integration

TZ = "Asia/Shanghai"
VALIDATIONS = [
    {"name": "repayments", "sql": "SELECT count(*) FROM repayments", "expect": {"min": 1}},
    # Measured from the moment restored to: the copy holds writes up to it.
    {
        "name": "newest repayment",
        "sql": "SELECT max(committed_at) FROM repayments",
        "expect": {"not_older_than": "5s"},
    },
]
RESTORE_TEST = {"writes_table": "repayments", "validations": VALIDATIONS}
QUIET = {"rpo_check_interval": "1h", "incident_tick_interval": "1h"}


@pytest.fixture(scope="module")
def writing_site() -> Iterator[tuple[Site, Writer]]:
    with open_site(
        "dr-test-pitr-rt-", archive_timeout="5s", rpo="5m", restore_test=RESTORE_TEST,
        top={"timezone": TZ, "scheduler": QUIET},
    ) as opened:  # fmt: skip
        ctx = opened.context()
        init_set(ctx)
        # The base backup is taken while the load generator writes.
        with Writer(opened.cluster) as writer:
            assert run_backup(ctx, kind="full").status == "ok"
            yield opened, writer


@pytest.fixture
def site(writing_site: tuple[Site, Writer]) -> Site:
    return writing_site[0]


@pytest.fixture
def writer(writing_site: tuple[Site, Writer]) -> Writer:
    return writing_site[1]


@pytest.fixture
def scratch_root(site: Site, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = site.base / "scratch"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def now() -> datetime:
    return datetime.now(UTC)


def archived_past(site: Site, moment: datetime, timeout: float = 60) -> None:
    """Wait until repo1's recovery window reaches beyond `moment`."""
    deadline = time.monotonic() + timeout
    while True:
        window = list_backups(site.context())["repositories"][0]["window"]
        if window["to"] is not None and datetime.fromisoformat(window["to"]) > moment:
            return
        assert time.monotonic() < deadline, f"the archive never reached {moment}"
        time.sleep(1)


def live_count(site: Site, condition: str, *values: datetime) -> int:
    quoted = [f"'{v.isoformat()}'::timestamptz" for v in values]
    text = condition.format(*quoted)
    return int(psql(site.cluster, f"SELECT count(*) FROM repayments WHERE {text}", "credit"))


def journal_events(site: Site, kind: str) -> list[Any]:
    journal = Journal(site.db)
    try:
        return journal.events(kinds=(kind,))
    finally:
        journal.close()


def test_restore_to_a_given_moment_holds_every_write_before_it_and_none_after(
    site: Site, writer: Writer, scratch_root: Path
) -> None:
    time.sleep(2)
    moment = now()
    time.sleep(2)
    assert any(at > moment for _, at in writer.acknowledged)
    archived_past(site, moment + timedelta(seconds=1))
    # As an operator writes it: the inventory's zone, no offset.
    local = moment.astimezone(ZoneInfo(TZ)).replace(tzinfo=None).isoformat(sep=" ")

    done = dr("restore-test", SET_NAME, "-i", str(site.inventory), "--db", site.db,
              "--to", local, "--json")  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(done.stdout)
    assert record["outcome"] == "passed" and record["problems"] == []
    assert record["point"]["how"] == "given"
    assert datetime.fromisoformat(record["point"]["moment"]) == moment
    assert record["snapshot_time"] == record["point"]["moment"]
    assert record["recovery"]["reached"] == "target"
    assert datetime.fromisoformat(record["recovery"]["stopped_before"]) > moment
    since = datetime.fromisoformat(record["writes"]["since"])
    settled = moment - timedelta(seconds=1)
    writes = record["writes"]
    assert writes["before"] == live_count(site, "committed_at > {} AND committed_at <= {}",
                                          since, settled) > 0  # fmt: skip
    assert writes["missing"] == 0 and writes["after_present"] == 0
    # The load generator goes on writing: the live table has more by now.
    assert 0 < writes["after"] <= live_count(site, "committed_at > {}", moment)
    assert writes["older"]["found"] == writes["older"]["expected"]
    assert writes["rows_checked"] >= writes["before"] + writes["after"]
    assert [v["problem"] for v in record["validations"]] == [None, None]
    assert record["backup_label"].endswith("F") and record["bytes"] > 0
    assert record["measurements"]["rpo"]["verdict"] == "met"

    finished = journal_events(site, "restore_test.finished")[-1]
    assert finished.data["test_id"] == record["test_id"]
    assert finished.data["point"]["moment"] == record["point"]["moment"]
    assert finished.data["writes"]["rows_checked"] == writes["rows_checked"]
    assert finished.data["outcome"] == "passed" and finished.data["kind"] == "postgres-pitr"
    journal = Journal(site.db)
    try:
        rows = journal.measurements(run_id=record["test_id"])
    finally:
        journal.close()
    assert sorted(r.name for r in rows) == ["rpo_seconds", "rto_seconds"]
    assert list(scratch_root.iterdir()) == []


def test_a_write_missing_from_the_copy_or_one_past_the_moment_fails_the_test(
    site: Site, scratch_root: Path
) -> None:
    # A ledger that disagrees with the archive: one row dated after the moment yet
    # committed before it, one dated before the moment yet committed after it.
    psql(site.cluster, REPAYMENTS.replace("repayments", "forged"), "credit")
    inventory = site.inventory_with(
        "inventory-forged.yaml", restore_test={**RESTORE_TEST, "writes_table": "forged"}
    )
    psql(site.cluster, "INSERT INTO forged (amount) VALUES (1)", "credit")
    early = psql(site.cluster, "INSERT INTO forged (committed_at, amount) VALUES "
                 "(now() + interval '1 day', 2) RETURNING id", "credit")  # fmt: skip
    time.sleep(1)
    moment = now()
    time.sleep(1)
    late = psql(site.cluster, "INSERT INTO forged (committed_at, amount) VALUES "
                f"('{(moment - timedelta(seconds=10)).isoformat()}', 3) RETURNING id",
                "credit")  # fmt: skip
    archived_past(site, moment + timedelta(seconds=1))

    done = dr("restore-test", SET_NAME, "-i", str(inventory), "--db", site.db,
              "--to", moment.isoformat())  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "replay: recovery stopping before commit" in done.stdout
    assert f"not in the copy (first ids: {late})" in done.stderr
    assert f"written after the moment (first ids: {early})" in done.stderr
    finished = journal_events(site, "restore_test.finished")[-1].data
    assert finished["outcome"] == "failed"
    assert finished["writes"]["missing_ids"] == [late]
    assert finished["writes"]["after_ids"] == [early]
    assert list(scratch_root.iterdir()) == []


def test_the_monthly_job_restores_to_a_random_moment_and_proves_it(
    site: Site, scratch_root: Path
) -> None:
    archived_past(site, now() - timedelta(seconds=3))
    tests_before = len(journal_events(site, "restore_test.finished"))
    daemon = Daemon(site.inventory, db_url=site.db, textfile_dir=site.base / "textfile")
    try:
        daemon.start()
        job = f"restore-test:{SET_NAME}"
        daemon.scheduler.modify_job(job, next_run_time=now() + timedelta(seconds=1))
        deadline = time.monotonic() + 180
        while len(journal_events(site, "restore_test.finished")) == tests_before:
            assert time.monotonic() < deadline, "the restore test job never finished"
            time.sleep(0.5)
        textfile = site.base / "textfile" / TEXTFILE_NAME
        while not textfile.exists() or "dr_restore_test_last_success" not in textfile.read_text():
            assert time.monotonic() < deadline, "the textfile never showed the test"
            time.sleep(0.2)
    finally:
        daemon.stop(wait=True)

    record = journal_events(site, "restore_test.finished")[-1].data
    assert record["outcome"] == "passed", record["problems"]
    point = record["point"]
    assert point["how"] == "random"
    lowest, moment, highest = (datetime.fromisoformat(point[k]) for k in ("lowest", "moment",
                                                                          "highest"))  # fmt: skip
    assert lowest <= moment <= highest and lowest < highest
    assert datetime.fromisoformat(record["window"]["from"]) < moment
    assert record["recovery"]["reached"] in ("target", "end of archive")
    assert record["writes"]["missing"] == 0 and record["writes"]["after_present"] == 0
    assert record["writes"]["rows_checked"] > 0
    assert f'dr_restore_test_last_success{{set="{SET_NAME}"}} 1' in textfile.read_text()
    assert list(scratch_root.iterdir()) == []


def test_a_restore_test_at_realistic_size_while_the_load_generator_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    with open_site(
        "dr-test-pitr-big-", archive_timeout="5s", rpo="5m",
        restore_test={"writes_table": "repayments", "validations": VALIDATIONS[:1]},
    ) as big:  # fmt: skip
        scratch_root = big.base / "scratch"
        scratch_root.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
        ctx = big.context()
        init_set(ctx)
        psql(big.cluster, REPAYMENTS, "credit")
        psql(big.cluster, "CREATE TABLE loans AS SELECT g AS id, md5(g::text) AS digest, "
             "repeat('x', 200) AS note FROM generate_series(1, 400000) g", "credit")  # fmt: skip
        size = int(psql(big.cluster, "SELECT pg_database_size('credit')"))
        assert size >= 100 * 1024 * 1024
        timings["setup"] = time.monotonic() - started
        with Writer(big.cluster) as writer:
            mark = time.monotonic()
            assert run_backup(ctx, kind="full").status == "ok"
            timings["backup"] = time.monotonic() - mark
            time.sleep(4)
            archived_past(big, now() - timedelta(seconds=2))
            mark = time.monotonic()
            # The load generator's own record of acknowledged writes is the source.
            record = restore_test(big.context(), acknowledged=writer)
            timings["restore_test"] = time.monotonic() - mark
        assert list(scratch_root.iterdir()) == []
    assert record.outcome == "passed", record.problems
    assert record.bytes >= 100 * 1024 * 1024
    assert record.writes is not None and record.writes["missing"] == 0
    assert record.writes["before"] > 0 and "load generator" in record.writes["source"]
    assert record.writes["after_present"] == 0
    timings["total"] = time.monotonic() - started
    shown = {k: round(v, 1) for k, v in timings.items()}
    print(f"database {size / 2**20:.0f} MiB, timings: {shown}")
