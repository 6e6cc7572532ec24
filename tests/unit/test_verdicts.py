"""One verdict vocabulary (met / not met) and one rule, for runs, restore tests and reports."""

from __future__ import annotations

import pytest

from backups.restore.measurements import measurement_rows
from backups.restore.record import Measurement, RestoreTestRecord
from orchestrator.reports.occasions import restore_occasion
from orchestrator.verdicts import (
    MET,
    NO_TARGET,
    NOT_MEASURED,
    NOT_MET,
    met,
    met_of,
    read_verdict,
    verdict,
    verdict_of,
)


@pytest.mark.parametrize(
    ("value", "target", "judged", "word"),
    [
        (10.0, 30.0, True, MET),
        (30.0, 30.0, True, MET),  # on the target is within it
        (30.5, 30.0, False, NOT_MET),
        (None, 30.0, False, NOT_MEASURED),  # an unproven recovery has met nothing
        (10.0, None, None, NO_TARGET),
        (None, None, None, NO_TARGET),
    ],
)
def test_one_rule_judges_a_figure_against_its_target(value, target, judged, word):
    assert met(value, target) is judged
    assert verdict(value, target) == word


def test_a_stored_judgement_reads_in_the_same_words():
    assert [verdict_of(j) for j in (True, False, None)] == [MET, NOT_MET, NO_TARGET]


def test_the_former_word_missed_is_read_as_not_met():
    assert read_verdict("missed") == NOT_MET
    assert met_of("missed") is False
    assert [met_of(w) for w in (MET, NOT_MET, NO_TARGET, NOT_MEASURED)] == [
        True,
        False,
        None,
        False,
    ]


def test_a_restore_test_says_not_met_like_a_run():
    assert Measurement.of(4000.0, 3600).verdict == NOT_MET
    assert Measurement.of(100.0, 3600).verdict == MET
    assert Measurement.of(100.0, None).verdict == NO_TARGET


def _record() -> RestoreTestRecord:
    record = RestoreTestRecord(
        test_id="t1", backup_set="credit", repository="/repo", started_at="2026-11-01T02:00:00"
    )
    record.measurements["rto"] = Measurement.of(4000.0, 3600)
    record.measurements["rpo"] = Measurement.of(60.0, None)
    return record


def test_restore_test_rows_judge_by_the_one_rule():
    rows = {r.name: r for r in measurement_rows(_record(), rto_target=3600, rpo_target=None)}
    assert rows["rto_seconds"].met is False and rows["rto_seconds"].detail["verdict"] == NOT_MET
    assert rows["rpo_seconds"].met is None
    # Not measured at all (no gap found) with a target: not met.
    gap = measurement_rows(_record(), rto_target=3600, rpo_target=600)[2]
    assert (gap.value_seconds, gap.met) == (None, False)


def test_a_restore_test_journaled_with_the_former_word_still_reports_not_met():
    event = _record().to_dict()
    event["measurements"]["rto"]["verdict"] = "missed"  # as older versions wrote it
    occasion = restore_occasion(event)
    assert occasion["rto"]["met"] is False
    assert occasion["rpo"]["met"] is None
