"""The report-message cycle end to end: the lab's credit service writes loans and
repayments to a real PostgreSQL, the lab's generator (A role), submitter (B role) and
credit centre run as the programs `dr lab up` starts, and `dr credit reconcile` and
`dr credit aftermath`, run as the operator runs them, read the directories over SSH
(a real sshd) and report exactly what was generated, submitted, accepted, rejected and
is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from lab.credit.batch_files import batch_text, feedback_text, submission_text, write_file
from lab.credit.centre import CreditCentre
from lab.credit.pool import Database
from lab.credit.reports import loan_opened, repaid, write_message
from lab.credit.schema import create_schema, generate_data, libpq_dsn
from lab.credit.service import CreditService
from orchestrator.credit.for_inventory import reconcile_inventory
from orchestrator.errors import EXIT_BAD_INPUT, EXIT_FAILED
from orchestrator.inventory import load_inventory

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Its GB 11643 check digit is X: the lab credit centre rejects a loan of this borrower.
BAD_ID_NUMBER = "110105194912310021"


class Reporting:
    """The lab credit system's directories in a temporary place, and its programs."""

    def __init__(self, root: Path) -> None:
        self.messages = root / "messages"
        self.generated = root / "reporting" / "generated"
        self.submitted = root / "reporting" / "submitted"
        self.feedback = root / "reporting" / "feedback"
        for directory in (self.messages, self.generated, self.submitted, self.feedback):
            directory.mkdir(parents=True, exist_ok=True)

    def run(self, module: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [sys.executable, "-m", f"lab.credit.{module}", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr

    def generate(self, *extra: str, by: str = "credit-a") -> None:
        self.run(
            "batches",
            "generate",
            "--messages",
            str(self.messages),
            "--generated",
            str(self.generated),
            "--by",
            by,
            *extra,
        )

    def submit(self, by: str = "credit-b") -> None:
        self.run(
            "batches",
            "submit",
            "--generated",
            str(self.generated),
            "--submitted",
            str(self.submitted),
            "--by",
            by,
            "--once",
        )

    def answer(self) -> None:
        self.run(
            "centre",
            "--inbox",
            str(self.submitted),
            "--feedback",
            str(self.feedback),
            "--delay",
            "0",
            "--once",
        )

    def batch_ids(self) -> list[str]:
        return sorted(p.name.removesuffix(".batch") for p in self.generated.glob("*.batch"))


def inventory_file(
    path: Path, reporting: Reporting, *, within: str, sshd: Any = None, rotated_on: str = ""
) -> Path:
    credit: dict[str, Any] = {
        "generated_dir": str(reporting.generated),
        "submitted_dir": str(reporting.submitted),
        "feedback_dir": str(reporting.feedback),
        "feedback_within": within,
        "roles": {
            "generator": "credit-a",
            "submitter": "credit-b",
            "rotated_on": rotated_on or datetime.now(UTC).date().isoformat(),
        },
    }
    hosts = []
    if sshd is not None:
        credit = {"host": "mbt-1", **credit}
        hosts.append(
            {
                "name": "mbt-1",
                "address": "127.0.0.1",
                "site": "dc",
                "roles": ["mbt"],
                "ssh": {
                    "port": sshd.port,
                    "user": sshd.endpoint("mbt-1").user,
                    "key_file": str(sshd.client_key_file),
                    "known_hosts": str(sshd.known_hosts_file),
                    "connect_timeout": 5,
                },
            }
        )
    document = {
        "name": "credit-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": hosts,
        "contacts": [
            {"name": "credit-a", "role": "credit-admin"},
            {"name": "credit-b", "role": "credit-admin"},
        ],
        "credit_reporting": credit,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def dr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        env={**os.environ, "DR_LANG": "en", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
    )


def _sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


@pytest.fixture
def credit_service(postgres_db_url: str, tmp_path: Path):
    create_schema(postgres_db_url)
    generate_data(postgres_db_url, loans=50, seed=3)
    reporting = Reporting(tmp_path / "credit")
    db = Database(postgres_db_url, 2)
    try:
        yield CreditService(db, reporting.messages), reporting, postgres_db_url
    finally:
        db.close()


def test_reconcile_reports_exactly_what_the_lab_credit_system_did(
    credit_service, sshd_server, tmp_path
):
    service, reporting, url = credit_service
    (bad_borrower,) = _sql(
        url,
        "INSERT INTO borrowers (name, id_number, phone, branch) VALUES"
        " ('张错', %s, '13900000000', 'branch-1') RETURNING id",
        (BAD_ID_NUMBER,),
    )[0]

    def loan(**body: Any) -> dict[str, Any]:
        status, reply = service.create_loan({"amount": "10000.00", **body})
        assert status == 201, reply
        return reply

    def repay(loan_id: int, amount: str) -> dict[str, Any]:
        status, reply = service.create_repayment({"loan_id": loan_id, "amount": amount})
        assert status == 201, reply
        return reply

    loans = [loan(borrower_id=1 + n) for n in range(6)]
    bad_loan = loan(borrower_id=bad_borrower)
    too_much = repay(loans[0]["id"], "20000.00")  # more than the loan: E201
    small = [repay(loans[1]["id"], "100.00") for _ in range(2)]
    # Ten writes, batches of four: 4 + 4 + 2; all submitted and answered.
    reporting.generate("--once", "--max-records", "4")
    first = reporting.batch_ids()
    assert len(first) == 3
    reporting.submit()
    reporting.answer()
    # Three more: one batch, generated and submitted by the same person, not yet answered.
    later = [loan() for _ in range(3)]
    reporting.generate("--once")
    reporting.submit(by="credit-a")
    # Two more: generated, never submitted.
    for _ in range(2):
        loan()
    reporting.generate("--once")
    ids = reporting.batch_ids()
    assert len(ids) == 5 and ids[:3] == first

    inventory = inventory_file(tmp_path / "inv.yaml", reporting, within="1h", sshd=sshd_server)
    result = dr("credit", "reconcile", "-i", str(inventory), "--json")
    assert result.returncode == EXIT_FAILED, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"] == {
        "batches": 5,
        "records": 15,
        "generated_not_submitted": 1,
        "awaiting_feedback": 1,
        "feedback_missing": 0,
        "answered": 3,
        "not_submitted_here": 0,
        "accepted_records": 8,
        "rejected_records": 2,
        "batches_with_problems": 0,
    }
    assert {b["batch_id"]: b["state"] for b in data["batches"]} == {
        ids[0]: "answered",
        ids[1]: "answered",
        ids[2]: "answered",
        ids[3]: "awaiting_feedback",
        ids[4]: "generated_not_submitted",
    }
    rejected = {
        (r["batch_id"], r["kind"], r["key"], r["reason_code"]) for r in data["rejected_records"]
    }
    assert rejected == {
        (ids[1], "loan_open", bad_loan["id"], "E101"),
        (ids[1], "repayment", too_much["id"], "E201"),
    }
    assert data["source"]["generated"] == f"mbt-1:{reporting.generated}"
    assert [(w["code"], w["batch_id"]) for w in data["warnings"]] == [("same_person", ids[3])]
    assert f"batch {ids[3]} was both generated and submitted by credit-a" in result.stderr

    # Past the allowed time, the unanswered submission is feedback missing.
    strict = inventory_file(tmp_path / "strict.yaml", reporting, within="0s", sshd=sshd_server)
    data = json.loads(dr("credit", "reconcile", "-i", str(strict), "--json").stdout)
    assert data["counts"]["feedback_missing"] == 1 and data["counts"]["awaiting_feedback"] == 0

    # The terminal summary, and the reports in both languages.
    text = dr("credit", "reconcile", "-i", str(inventory))
    assert text.returncode == EXIT_FAILED
    assert "5 batches, 15 records" in text.stdout and "2 rejected" in text.stdout
    for lang, words in (("zh", "征信报文对账报告"), ("en", "Credit-report message reconciliation")):
        out = tmp_path / f"reconcile-{lang}.html"
        made = dr(
            "credit",
            "reconcile",
            "-i",
            str(inventory),
            "--format",
            "html",
            "--out",
            str(out),
            "--lang",
            lang,
        )
        assert made.returncode == EXIT_FAILED, made.stderr
        assert words in out.read_text() and ids[1] in out.read_text()

    # After a recovery that lost loan 2 and a repayment of it: which batches to redo.
    lost = tmp_path / "lost.json"
    lost_rows = [
        {
            "table": "loans",
            "key": loans[1]["id"],
            "row_at": loans[1]["row_at"],
            "branch": "head-office",
            "amount": "10000.00",
        },
        {
            "table": "repayments",
            "key": small[0]["id"],
            "row_at": small[0]["row_at"],
            "branch": "head-office",
            "amount": "100.00",
        },
    ]
    lost.write_text(json.dumps({"lost": lost_rows}))
    result = dr("credit", "aftermath", "-i", str(strict), "--lost", str(lost), "--json")
    assert result.returncode == EXIT_FAILED, result.stderr
    after = json.loads(result.stdout)
    assert [b["batch_id"] for b in after["regenerate"]] == [ids[0], ids[2]]
    assert [(b["batch_id"], b["reasons"]) for b in after["resubmit"]] == [
        (ids[0], ["lost_records"]),
        (ids[1], ["rejected"]),
        (ids[2], ["lost_records"]),
        (ids[3], ["never_acknowledged"]),
    ]
    assert after["feedback_missing"] == [ids[3]] and after["unbatched_lost"] == []
    assert {r["key"] for r in after["regenerate"][0]["lost"]} == {loans[1]["id"]}
    made = dr(
        "credit", "aftermath", "-i", str(strict), "--lost", str(lost), "-f", "md", "--lang", "zh"
    )
    assert "恢复后征信报文善后清单" in made.stdout and ids[0] in made.stdout
    assert later  # the three later loans are the awaiting batch's records


def test_the_generator_loop_is_bounded_and_never_batches_a_write_twice(credit_service):
    service, reporting, _ = credit_service
    for _ in range(5):
        assert service.create_loan({"amount": "5000.00"})[0] == 201
    started = time.monotonic()
    reporting.generate("--every", "0.2", "--lifetime", "1.5", "--max-records", "2")
    assert time.monotonic() - started < 30  # it stopped by itself at the end of its lifetime
    ids = reporting.batch_ids()
    assert len(ids) == 3  # 2 + 2 + 1, and later passes found nothing new
    # A restarted generator reads what is batched from the batches themselves.
    assert service.create_loan({"amount": "5000.00"})[0] == 201
    reporting.generate("--once")
    assert len(reporting.batch_ids()) == 4
    text = (reporting.generated / f"{reporting.batch_ids()[-1]}.batch").read_text()
    assert text.count("LOAN_OPEN|") == 1


def test_a_batch_changed_after_generation_is_rejected_whole_by_the_centre(credit_service, tmp_path):
    service, reporting, _ = credit_service
    for _ in range(2):
        service.create_loan({"amount": "5000.00"})
    reporting.generate("--once")
    reporting.submit()
    (batch_id,) = reporting.batch_ids()
    sent = reporting.submitted / f"{batch_id}.batch"
    sent.write_text(sent.read_text().replace("|5000.00|", "|50.00|", 1))
    reporting.answer()
    feedback = (reporting.feedback / f"{batch_id}.feedback").read_text()
    assert feedback.count("|REJECTED|E001|") == 2
    inventory = inventory_file(tmp_path / "inv.yaml", reporting, within="1h")
    # dr refuses the altered submitted file, naming its line: bad input, exit 2.
    result = dr("credit", "reconcile", "-i", str(inventory))
    assert result.returncode == EXIT_BAD_INPUT and "Traceback" not in result.stderr
    assert f"{reporting.submitted}/{batch_id}.batch:" in result.stderr
    assert "changed after generation" in result.stderr


def test_reconcile_at_realistic_size(tmp_path, sshd_server):
    """Six thousand records in three hundred batches, answered with some rejections."""
    reporting = Reporting(tmp_path / "credit")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    borrower = (1, "李强", "11010519491231002X")
    for n in range(1, 4001):
        name, line = loan_opened(
            n,
            borrower,
            Decimal("5000.00"),
            Decimal("0.05"),
            12,
            "active",
            "branch-1",
            start + timedelta(seconds=n),
        )
        write_message(reporting.messages, name, line)
    for n in range(1, 2001):
        # Every hundredth repayment is larger than its loan: 20 E201 rejections, two of
        # them in the ten batches left unanswered.
        amount = Decimal("6000.00") if n % 100 == 0 else Decimal("100.00")
        name, line = repaid(n, n, amount, start + timedelta(seconds=5000 + n))
        write_message(reporting.messages, name, line)
    reporting.generate("--once", "--max-records", "20")
    ids = reporting.batch_ids()
    assert len(ids) == 300
    reporting.submit()
    # The centre answers all but the last ten batches.
    for batch_id in ids[-10:]:
        (reporting.submitted / f"{batch_id}.batch").rename(tmp_path / f"{batch_id}.held")
    CreditCentre(reporting.submitted, reporting.feedback).run_once()
    for batch_id in ids[-10:]:
        (tmp_path / f"{batch_id}.held").rename(reporting.submitted / f"{batch_id}.batch")

    inventory = load_inventory(inventory_file(tmp_path / "inv.yaml", reporting, within="0s"))
    started = time.monotonic()
    result = reconcile_inventory(inventory)
    elapsed = time.monotonic() - started
    counts = result.counts()
    assert counts["batches"] == 300 and counts["records"] == 6000
    assert counts["answered"] == 290 and counts["feedback_missing"] == 10
    assert counts["rejected_records"] == 18 and counts["accepted_records"] == 290 * 20 - 18
    assert elapsed < 10, f"reconciling 300 batches took {elapsed:.1f} s"
    print(f"\nreconcile, 300 batches of 6,000 records, local files: {elapsed:.2f} s")

    # The same over SSH, as the operator runs it: 900 files read by SFTP.
    remote = inventory_file(tmp_path / "ssh.yaml", reporting, within="0s", sshd=sshd_server)
    started = time.monotonic()
    cli = dr("credit", "reconcile", "-i", str(remote), "--json")
    print(f"dr credit reconcile over SSH: {time.monotonic() - started:.2f} s")
    assert cli.returncode == EXIT_FAILED, cli.stderr
    assert json.loads(cli.stdout)["counts"] == counts


def test_no_credit_section_and_a_bad_lost_file_are_bad_input(tmp_path):
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\nenvironment: drill\n")
    result = dr("credit", "reconcile", "-i", str(bare))
    assert result.returncode == EXIT_BAD_INPUT and "no credit_reporting: section" in result.stderr
    reporting = Reporting(tmp_path / "credit")
    inventory = inventory_file(tmp_path / "inv.yaml", reporting, within="1h")
    lost = tmp_path / "lost.json"
    lost.write_text('[\n  {"table": "loans",\n  "key": 1,,}\n]')
    result = dr("credit", "aftermath", "-i", str(inventory), "--lost", str(lost))
    assert result.returncode == EXIT_BAD_INPUT and f"{lost}:3: not JSON" in result.stderr
    # An empty, clean history is exit 0.
    result = dr("credit", "reconcile", "-i", str(inventory))
    assert result.returncode == 0, result.stderr
    assert "clean: nothing owed" in result.stdout
    # Files written by hand in the lab format are read like the lab's own.
    text = batch_text("B1", [], datetime.now(UTC), "credit-a")
    write_file(reporting.generated, "B1.batch", text)
    write_file(
        reporting.submitted, "B1.batch", submission_text("B1", text, datetime.now(UTC), "credit-b")
    )
    write_file(reporting.feedback, "B1.feedback", feedback_text("B1", datetime.now(UTC), []))
    assert dr("credit", "reconcile", "-i", str(inventory)).returncode == 0


def test_the_programs_dr_lab_up_starts_batch_submit_and_answer(tmp_path):
    """The lab's own argv (lab/credit_reporting.py), run as `dr lab up` runs them but
    outside namespaces: each acts at once, then waits out its (here short) lifetime."""
    from lab.credit_reporting import programs, reporting_dirs
    from lab.lab_inventory import lab_inventory
    from lab.state import LabState
    from lab.topology import LabTopology

    state = LabState(tmp_path / "lab")
    for n, host in enumerate(("dc-a", "dc-b"), start=1):
        messages = state.host_dir(host) / "credit-report" / "messages"
        messages.mkdir(parents=True)
        name, line = loan_opened(
            n,
            (1, "王伟", "11010519491231002X"),
            Decimal("5000.00"),
            Decimal("0.05"),
            12,
            "active",
            "branch-1",
            datetime.now(UTC),
        )
        write_message(messages, name, line)
    # The centre answers a batch 5 s after its submission, at its next pass (every 5 s).
    argvs = {**programs(state, 1.0), "credit-centre": programs(state, 7.0)["credit-centre"]}
    for name, argv in argvs.items():
        result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (name, result.stderr)
        assert '"event": "stopped"' in result.stderr and '"lifetime"' in result.stderr
    dirs = reporting_dirs(state)
    (batch,) = dirs["generated"].glob("*.batch")
    assert (dirs["submitted"] / batch.name).exists()
    assert (dirs["feedback"] / batch.name.replace(".batch", ".feedback")).exists()
    # The lab inventory's section points dr at exactly these directories, with its roles.
    section = lab_inventory(LabTopology(), state)["credit_reporting"]
    assert section["generated_dir"] == str(dirs["generated"])
    assert section["feedback_dir"] == str(dirs["feedback"])
    local = {**section, "host": None}
    document = {"name": "lab-copy", "environment": "drill", "credit_reporting": local}
    document["contacts"] = [
        {"name": n, "role": "credit-admin"}
        for n in (section["roles"]["generator"], section["roles"]["submitter"])
    ]
    del document["credit_reporting"]["host"]
    path = tmp_path / "lab-copy.yaml"
    path.write_text(yaml.safe_dump(document))
    result = dr("credit", "reconcile", "-i", str(path), "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = json.loads(result.stdout)["counts"]
    assert counts["records"] == 2 and counts["accepted_records"] == 2
