"""The report-message cycle: the lab format's parser, reconcile's classification, the
aftermath of a recovery, the A/B role warnings, and the credit_reporting section.

Files are written by the lab's own writers (lab/credit/batch_files.py) into temporary
directories and read by dr's parser: the two sides of the format must agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import yaml

from lab.credit.batch_files import (
    batch_text,
    feedback_text,
    submission_text,
)
from lab.credit.reports import loan_opened, repaid
from orchestrator.credit import lab_format
from orchestrator.credit.aftermath import (
    aftermath,
    records_from_lost_transactions,
    split_lost_and_changed,
)
from orchestrator.credit.model import FormatProblem, SourceRecord
from orchestrator.credit.reconcile import reconcile
from orchestrator.credit.report import aftermath_layout, reconcile_layout
from orchestrator.credit.roles import rotation_warning
from orchestrator.credit.sources import MessageFiles, load_batches
from orchestrator.errors import EXIT_BAD_INPUT, CreditFilesError, InventoryError, UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.credit_reporting import CreditRoles
from orchestrator.reports.render_markdown import render_markdown

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
BORROWER = (7, "王伟", "11010519491231002X")


def loan_line(loan_id: int, at: datetime, amount: str = "5000.00") -> str:
    _, line = loan_opened(
        loan_id, BORROWER, Decimal(amount), Decimal("0.05"), 12, "active", "branch-1", at
    )
    return line.rstrip("\n")


def repayment_line(repayment_id: int, loan_id: int, at: datetime, amount: str = "100.00") -> str:
    return repaid(repayment_id, loan_id, Decimal(amount), at)[1].rstrip("\n")


class Files:
    """The three directories' texts, built with the lab's writers."""

    def __init__(self) -> None:
        self.generated: dict[str, str] = {}
        self.submitted: dict[str, str] = {}
        self.feedback: dict[str, str] = {}

    def batch(
        self,
        batch_id: str,
        lines: list[str],
        *,
        by: str = "credit-a",
        submitted_by: str | None = None,
        submitted_at: datetime | None = None,
        answer: dict[int, str] | None = None,
    ) -> None:
        text = batch_text(batch_id, lines, T0, by)
        self.generated[f"{batch_id}.batch"] = text
        if submitted_by is not None:
            sent = submitted_at or T0 + timedelta(minutes=5)
            self.submitted[f"{batch_id}.batch"] = submission_text(
                batch_id, text, sent, submitted_by
            )
        if answer is not None:
            results = []
            for seq, line in enumerate(lines, start=1):
                record = lab_format.parse_message_line(line)
                code = answer.get(seq)
                tail = f"REJECTED|{code}|reason {code}" if code else "ACCEPTED"
                results.append(f"{seq}|{record.kind}|{record.key}|{tail}")
            self.feedback[f"{batch_id}.feedback"] = feedback_text(
                batch_id, T0 + timedelta(minutes=6), results
            )

    def message_files(self) -> MessageFiles:
        where = {"generated": "/gen", "submitted": "/sub", "feedback": "/fb"}
        return MessageFiles(self.generated, self.submitted, self.feedback, where)


# -- the parser ------------------------------------------------------------------------


def test_the_lab_writers_and_drs_parser_agree_on_every_file_kind():
    lines = [loan_line(11, T0), repayment_line(21, 11, T0 + timedelta(seconds=1))]
    text = batch_text("B1", lines, T0, "credit-a")
    generated = lab_format.parse_generated("B1.batch", text)
    assert generated.batch_id == "B1" and generated.generated_by == "credit-a"
    assert generated.generated_at == T0
    assert generated.records == (
        SourceRecord("loan_open", 11, T0),
        SourceRecord("repayment", 21, T0 + timedelta(seconds=1)),
    )
    sent = T0 + timedelta(minutes=3)
    submission = lab_format.parse_submitted("B1.batch", submission_text("B1", text, sent, "b"))
    assert (submission.submitted_by, submission.submitted_at) == ("b", sent)
    assert submission.batch.digest == generated.digest
    answer = feedback_text(
        "B1", sent, ["1|loan_open|11|ACCEPTED", "2|repayment|21|REJECTED|E201|x"]
    )
    feedback = lab_format.parse_feedback("B1.feedback", answer)
    assert [r.accepted for r in feedback.results] == [True, False]
    assert feedback.rejected[0].reason_code == "E201"


@pytest.mark.parametrize(
    ("mangle", "line", "words"),
    [
        (lambda t: t.replace("|5000.00|", "|9000.00|"), 4, "changed after generation"),
        (lambda t: t.rsplit("#END", 1)[0], 3, "no #END"),
        (lambda t: t.replace("#BATCH|1|", "#BATCH|2|"), 1, "version"),
        (lambda t: t.replace("|credit-a|2\n", "|credit-a|3\n"), 1, "says 3 records"),
        (lambda t: t.replace("REPAYMENT|", "REPAYMNT|"), 3, "not a message line"),
        (lambda t: "", None, "empty file"),
    ],
)
def test_a_damaged_batch_is_refused_with_its_line(mangle, line, words):
    text = batch_text("B1", [loan_line(11, T0), repayment_line(21, 11, T0)], T0, "credit-a")
    with pytest.raises(FormatProblem) as caught:
        lab_format.parse_generated("B1.batch", mangle(text))
    assert caught.value.line == line and words in caught.value.message


def test_feedback_whose_counts_disagree_with_its_lines_is_refused():
    answer = feedback_text("B1", T0, ["1|loan_open|11|ACCEPTED"]).replace("|1|0", "|2|0")
    with pytest.raises(FormatProblem, match="cut short or altered"):
        lab_format.parse_feedback("B1.feedback", answer)


def test_every_unreadable_file_is_listed_as_file_and_line():
    files = Files()
    files.batch("B1", [loan_line(1, T0)])
    files.generated["B2.batch"] = "#BATCH|1|B2|ORG|yesterday|a|0\n#END|x\n"
    files.feedback["B3.feedback"] = "#FEEDBACK|1|B3|2026-12-01T00:00:00+00:00|1|0\nnonsense\n"
    files.generated["B9.batch"] = batch_text("B4", [loan_line(4, T0)], T0, "a")
    with pytest.raises(CreditFilesError) as caught:
        load_batches(files.message_files())
    shown = [str(p) for p in caught.value.problems]
    assert shown == [
        "/gen/B2.batch:1: 'yesterday' is not an ISO 8601 time",
        "/gen/B9.batch:1: carries batch 'B4'; a file is named after the batch it carries",
        "/fb/B3.feedback:2: expected SEQ|KIND|KEY|ACCEPTED or ...|REJECTED|CODE|REASON",
    ]
    assert caught.value.exit_code == EXIT_BAD_INPUT


# -- reconcile -------------------------------------------------------------------------


def _reconciled(files: Files, now: datetime, within: timedelta = timedelta(hours=1), roles=None):
    return reconcile(
        load_batches(files.message_files()), now=now, feedback_within=within, roles=roles
    )


def test_each_batch_gets_its_state_and_rejected_records_are_listed():
    files = Files()
    files.batch("B1", [loan_line(1, T0), loan_line(2, T0)], submitted_by="credit-b", answer={})
    files.batch(
        "B2",
        [loan_line(3, T0), repayment_line(4, 3, T0)],
        submitted_by="credit-b",
        answer={2: "E201"},
    )
    files.batch("B3", [loan_line(5, T0)], submitted_by="credit-b")  # at T0+5m
    files.batch(
        "B4", [loan_line(6, T0)], submitted_by="credit-b", submitted_at=T0 - timedelta(hours=3)
    )
    files.batch("B5", [loan_line(7, T0)])
    result = _reconciled(files, now=T0 + timedelta(minutes=30))
    states = {s.batch.batch_id: s.state for s in result.statuses}
    assert states == {
        "B1": "answered",
        "B2": "answered",
        "B3": "awaiting_feedback",
        "B4": "feedback_missing",
        "B5": "generated_not_submitted",
    }
    counts = result.counts()
    assert counts["accepted_records"] == 3 and counts["rejected_records"] == 1
    assert counts["records"] == 7 and counts["batches"] == 5
    assert result.owed
    data = result.to_dict()
    assert data["rejected_records"] == [
        {
            "batch_id": "B2",
            "kind": "repayment",
            "key": 4,
            "accepted": False,
            "reason_code": "E201",
            "reason": "reason E201",
        }
    ]
    owed = {b["batch_id"] for b in data["batches"] if b["owed"]}
    assert owed == {"B2", "B4", "B5"}
    json.dumps(data)  # JSON-able as it is


def test_a_fully_answered_history_is_clean():
    files = Files()
    files.batch("B1", [loan_line(1, T0)], submitted_by="credit-b", answer={})
    result = _reconciled(files, now=T0 + timedelta(days=30))
    assert not result.owed and result.warnings == []


def test_files_that_contradict_each_other_are_owed():
    files = Files()
    files.batch("B1", [loan_line(1, T0)], submitted_by="credit-b", answer={})
    # The B role sent other records than the A role generated (each file is whole).
    other = batch_text("B1", [loan_line(1, T0, amount="9.00")], T0, "credit-a")
    files.submitted["B1.batch"] = submission_text("B1", other, T0, "credit-b")
    files.batch("B2", [loan_line(2, T0), loan_line(3, T0)], submitted_by="credit-b")
    files.feedback["B2.feedback"] = feedback_text("B2", T0, ["1|loan_open|2|ACCEPTED"])
    files.feedback["B9.feedback"] = feedback_text("B9", T0, ["1|loan_open|9|ACCEPTED"])
    result = _reconciled(files, now=T0 + timedelta(minutes=10))
    problems = {s.batch.batch_id: s.batch.problems for s in result.statuses}
    assert "changed between the A and B roles" in problems["B1"][0]
    assert "leaves 1 record(s) unanswered, e.g. loan_open 3" in problems["B2"][0]
    assert problems["B9"] == ["feedback for a batch that was never submitted from here"]
    assert {s.batch.batch_id: s.state for s in result.statuses}["B9"] == "not_submitted_here"
    assert all(s.owed for s in result.statuses)


# -- the two roles ---------------------------------------------------------------------


def test_one_person_generating_and_submitting_a_batch_is_warned():
    files = Files()
    files.batch("B1", [loan_line(1, T0)], by="credit-a", submitted_by="credit-a", answer={})
    files.batch("B2", [loan_line(2, T0)], by="credit-a", submitted_by="credit-b", answer={})
    roles = CreditRoles(generator="credit-a", submitter="credit-b", rotated_on=date(2026, 11, 1))
    result = _reconciled(files, now=T0, roles=roles)
    assert [(w.code, w.batch_id) for w in result.warnings] == [("same_person", "B1")]
    assert "credit-a" in result.warnings[0].text("zh") and "art. 28" in result.warnings[0].text(
        "en"
    )


def test_the_rotation_is_overdue_the_day_after_its_period():
    roles = CreditRoles(generator="a", submitter="b", rotated_on=date(2026, 9, 1))
    assert roles.rotation_due() == date(2026, 11, 30)  # 90 days by default
    assert rotation_warning(roles, date(2026, 11, 30)) is None
    warning = rotation_warning(roles, date(2026, 12, 2))
    assert warning is not None and "2 day(s) overdue" in warning.text("en")
    assert "已逾期 2 天" in warning.text("zh")


# -- the aftermath ---------------------------------------------------------------------


def test_aftermath_lists_what_to_regenerate_resubmit_and_chase():
    files = Files()
    t1 = T0 + timedelta(seconds=1)
    files.batch("B1", [loan_line(1, T0), loan_line(2, t1)], submitted_by="credit-b", answer={})
    files.batch("B2", [loan_line(3, T0)], submitted_by="credit-b", answer={1: "E101"})
    files.batch(
        "B3", [loan_line(4, T0)], submitted_by="credit-b", submitted_at=T0 - timedelta(days=2)
    )
    files.batch("B4", [loan_line(5, T0), repayment_line(6, 5, T0)])
    files.batch("B5", [loan_line(7, T0)], submitted_by="credit-b")
    lost = records_from_lost_transactions(
        [
            {"table": "loans", "key": 2, "row_at": t1.isoformat(), "branch": "b", "amount": "1"},
            # Same id, another row time: a later row reused the id; not this batch's row.
            {"table": "loans", "key": 1, "row_at": (T0 + timedelta(hours=1)).isoformat()},
            {"table": "repayments", "key": 99, "row_at": T0.isoformat()},
        ]
    )
    changed = [SourceRecord("repayment", 6, T0)]
    result = aftermath(
        load_batches(files.message_files()),
        lost,
        changed,
        now=T0 + timedelta(minutes=10),
        feedback_within=timedelta(hours=1),
    )
    assert [(b.batch_id, b.reasons) for b in result.regenerate] == [
        ("B1", ("lost_records",)),
        ("B4", ("changed_records",)),
    ]
    assert [(b.batch_id, b.reasons) for b in result.resubmit] == [
        ("B1", ("lost_records",)),
        ("B2", ("rejected",)),
        ("B3", ("never_acknowledged",)),
    ]
    assert result.regenerate[0].lost == (SourceRecord("loan_open", 2, t1),)
    assert result.feedback_missing == ["B3"] and result.awaiting_feedback == ["B5"]
    assert [r.label() for r in result.unbatched_lost] == ["loan_open 1", "repayment 99"]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["owed"] and data["resubmit"][1]["rejected"] == ["loan_open 3 (E101)"]


def test_nothing_lost_nothing_owed():
    files = Files()
    files.batch("B1", [loan_line(1, T0)], submitted_by="credit-b", answer={})
    result = aftermath(
        load_batches(files.message_files()), [], now=T0, feedback_within=timedelta(hours=1)
    )
    assert not result.owed and result.to_dict()["regenerate"] == []


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"table": "borrowers", "key": 1, "row_at": "2026-12-01T00:00:00Z"}, "carries no report"),
        ({"table": "loans", "key": "x1", "row_at": "2026-12-01T00:00:00Z"}, "not a row id"),
        ({"table": "loans", "key": 1}, "no `at`"),
        ({"table": "loans", "key": 1, "row_at": "2026-12-01T00:00:00"}, "has no offset"),
    ],
)
def test_a_bad_lost_row_is_named(row, words):
    with pytest.raises(UserInputError, match=words):
        records_from_lost_transactions([{"branch": "b"}, row][1:])


def test_the_lost_transactions_record_splits_into_lost_and_changed_rows():
    """The shape rebuild-standby journals (and `dr report lost-transactions` lists)."""
    at = T0.isoformat()
    record = {
        "pair": "credit",
        "lost_count": 2,
        "rows": [
            {"kind": "loan", "table": "loans", "key": "11", "at": at, "reason": "missing"},
            {
                "kind": "repayment",
                "table": "repayments",
                "key": "21",
                "at": at,
                "reason": "replaced",
                "branch": "branch-1",
                "amount": "100.00",
            },
            {"kind": "loan", "table": "loans", "key": "12", "at": at, "reason": "changed"},
        ],
    }
    lost, changed = split_lost_and_changed({"report": "lost-transactions", "lists": [record]})
    assert [r.label() for r in records_from_lost_transactions(lost)] == [
        "loan_open 11",
        "repayment 21",
    ]
    assert records_from_lost_transactions(changed) == [SourceRecord("loan_open", 12, T0)]
    assert split_lost_and_changed([record["rows"][0]]) == ([record["rows"][0]], [])
    with pytest.raises(UserInputError, match="`rows` must be a list"):
        split_lost_and_changed({"rows": "none"})


# -- the reports -----------------------------------------------------------------------


def test_reports_read_in_both_languages():
    files = Files()
    files.batch(
        "B1",
        [loan_line(1, T0), repayment_line(2, 1, T0)],
        submitted_by="credit-b",
        answer={2: "E201"},
    )
    files.batch("B2", [loan_line(3, T0)])
    data = _reconciled(files, now=T0 + timedelta(minutes=10)).to_dict()
    zh = render_markdown(reconcile_layout(data, "zh"))
    en = render_markdown(reconcile_layout(data, "en"))
    assert "征信报文对账报告" in zh and "被拒记录" in zh and "已生成未上报" in zh
    assert "Rejected records" in en and "| B1 | repayment 2 | E201 |" in en
    lost = records_from_lost_transactions([{"table": "loans", "key": 3, "row_at": T0.isoformat()}])
    after = aftermath(
        load_batches(files.message_files()), lost, now=T0, feedback_within=timedelta(hours=1)
    ).to_dict()
    assert "需重新生成" in render_markdown(aftermath_layout(after, "zh"))
    assert "| B2 |" in render_markdown(aftermath_layout(after, "en"))


# -- the inventory section -------------------------------------------------------------


def _inventory_text(credit: dict) -> str:
    document = {
        "name": "credit-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "mbt-1", "address": "127.0.0.1", "site": "dc", "roles": ["mbt"]}],
        "contacts": [
            {"name": "credit-a", "role": "credit-admin"},
            {"name": "credit-b", "role": "credit-admin"},
        ],
        "credit_reporting": credit,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _credit(**changes) -> dict:
    section = {
        "host": "mbt-1",
        "generated_dir": "/srv/gen",
        "submitted_dir": "/srv/sub",
        "feedback_dir": "/srv/fb",
        "feedback_within": "1d",
        "roles": {"generator": "credit-a", "submitter": "credit-b", "rotated_on": "2026-10-08"},
    }
    section.update(changes)
    return section


def test_a_good_section_loads_with_its_defaults(tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text(_inventory_text(_credit()))
    settings = load_inventory(path).credit_reporting
    assert settings is not None and settings.feedback_within == 86400
    assert settings.roles.rotate_every == 90 * 86400 and settings.format == "lab"


def test_a_bad_section_names_file_line_and_field(tmp_path):
    roles = {"generator": "credit-a", "submitter": "credit-a", "rotated_on": "someday"}
    path = tmp_path / "inv.yaml"
    path.write_text(
        _inventory_text(_credit(host="mbt-9", generated_dir="gen", roles=roles, formt="x"))
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    shown = "\n".join(str(p) for p in caught.value.problems)
    lines = path.read_text().splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, start=1) if text in line)

    assert (
        f"inv.yaml:{line_of('host: mbt-9')}: credit_reporting.host: no host named 'mbt-9'" in shown
    )
    assert f":{line_of('generated_dir')}: credit_reporting.generated_dir:" in shown
    assert f":{line_of('rotated_on')}: credit_reporting.roles.rotated_on:" in shown
    assert f":{line_of('formt')}: credit_reporting.formt:" in shown


def test_one_person_in_both_roles_is_refused(tmp_path):
    roles = {"generator": "credit-a", "submitter": "credit-a", "rotated_on": "2026-10-08"}
    path = tmp_path / "inv.yaml"
    path.write_text(_inventory_text(_credit(roles=roles)))
    with pytest.raises(InventoryError, match="both generator and submitter"):
        load_inventory(path)


def test_dr_inventory_check_exits_2_on_a_bad_section_and_warns_an_overdue_rotation(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(_inventory_text(_credit(feedback_within="soon")))
    result = _dr("inventory", "check", str(bad))
    assert result.returncode == EXIT_BAD_INPUT and "Traceback" not in result.stderr
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "soon" in t)
    assert f"bad.yaml:{line}: credit_reporting.feedback_within:" in result.stderr

    late = tmp_path / "late.yaml"
    late.write_text(_inventory_text(_credit()).replace("2026-10-08", "2020-01-01"))
    result = _dr("inventory", "check", str(late))
    assert result.returncode == 0, result.stderr
    assert "were last swapped on 2020-01-01" in result.stderr.replace("\n", " ")


def _dr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DR_LANG": "en", "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
