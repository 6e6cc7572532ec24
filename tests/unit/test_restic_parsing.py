"""restic's command builders and output parsers, on output captured from real restic 0.14
runs (tests/data/restic-0.14/README.md says how each file was made).

restic 0.17 is not installed here: its exit codes (10, 11, 12) are tested through the
mapping with the codes themselves, which is all that path reads.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from backups.execute import Masker
from backups.locks import LockPolicy, removable
from backups.restic import check, copy, forget, locks, snapshots
from backups.restic.backup import BackupOutput, build_backup, parse_error
from backups.restic.errors import classify
from backups.restic.features import Feature, Version, has, parse_version
from orchestrator.errors import (
    EXIT_BAD_INPUT,
    RepositoryLocked,
    RepositoryNotFound,
    RepositoryUnreachable,
    ResticFailed,
    ResticNotInstalled,
    WrongRepositoryPassword,
)

DATA = Path(__file__).parent.parent / "data" / "restic-0.14"
V014 = Version(0, 14, 0)
V0170 = Version(0, 17, 0)
V0171 = Version(0, 17, 1)


def fixture(name: str) -> str:
    return (DATA / name).read_text()


def take_all(output: BackupOutput, text: str) -> None:
    for line in text.splitlines():
        if line.startswith("{"):
            output.take(json.loads(line))


def test_backup_summary_of_a_real_run_gives_files_bytes_and_snapshot():
    output = BackupOutput()
    take_all(output, fixture("backup-ok.stdout"))
    assert output.summary is not None
    assert output.summary.files == 2
    assert output.summary.total_bytes_processed == 200_002
    assert len(output.summary.snapshot_id) == 8  # 0.14 reports the short id
    assert output.summary.total_duration > 0
    assert output.last_status is not None and output.last_status.total_bytes == 200_000


def test_partial_backup_names_the_unreadable_file_from_a_014_error_object():
    output = BackupOutput()
    take_all(output, fixture("backup-partial.stdout"))
    take_all(output, fixture("backup-partial.stderr"))
    assert output.summary is not None  # exit 3: the snapshot exists all the same
    [error] = output.errors
    assert error.item.endswith("/data/secret")
    assert error.message == "open data/secret: Permission denied (EACCES)"


def test_error_object_in_the_017_shape_is_read_too():
    error = parse_error(
        {"message_type": "error", "error": {"message": "open x: denied"}, "item": "/x"}
    )
    assert (error.item, error.message) == ("/x", "open x: denied")


def test_snapshots_parse_with_nanosecond_times_and_tags():
    found = snapshots.parse_snapshots(fixture("snapshots.json"))
    assert len(found) == 3
    assert found[0].tags == ("t1",) and found[0].hostname == "h"
    assert [s.paths for s in found if s.paths == ("/db.pgdump",)]
    assert found[0].time.tzinfo is not None
    assert snapshots.parse_snapshots("null") == []


def test_forget_dry_run_lists_kept_and_removed_and_why():
    [group] = forget.parse_forget(fixture("forget-dry-run.json"))
    assert len(group.keep) == 1 and len(group.remove) == 2
    kept = group.keep[0]
    # 0.14 leaves the id out of "reasons"; it is matched back by time.
    assert group.reasons[kept.id] == ("last snapshot",)


def test_forget_policy_builder_uses_tags_and_every_rule_given():
    args = forget.build_forget_policy({"keep_daily": 7, "keep_monthly": 12}, ["a", "b"])
    assert args == [
        "forget", "--json", "--dry-run", "--tag", "a,b", "--keep-daily", "7", "--keep-monthly", "12"
    ]  # fmt: skip
    with pytest.raises(ValueError):
        forget.build_forget_policy({}, ["a"])


def test_lock_json_parses_owner_and_age():
    lock = locks.parse_lock("abc", fixture("lock.json"))
    assert (lock.hostname, lock.username, lock.exclusive) == ("vm", "root", False)
    assert lock.pid > 0 and lock.time.tzinfo is not None


def test_check_text_output_ok_and_damaged():
    ok = check.parse_check(V014, 0, fixture("check-ok.stdout"), "", None)
    assert ok.ok and ok.errors == ()
    damaged_err = fixture("check-damaged.stderr")
    assert check.found_damage(1, damaged_err)
    bad = check.parse_check(V014, 1, fixture("check-damaged.stdout"), damaged_err, "1/1")
    assert not bad.ok
    assert any(e.startswith("pack ") and "does not exist" in e for e in bad.errors)
    assert all(not e.startswith("Load(") for e in bad.errors)  # retries are not findings


def test_check_uses_json_only_where_restic_has_it():
    assert "--json" not in check.build_check(V014, "1/30")
    assert "--json" in check.build_check(Version(0, 18, 0), "1/30")
    summary = '{"message_type":"summary","num_errors":0}\n'
    assert check.parse_check(Version(0, 18, 0), 0, summary, "", None).ok


def test_rotating_subset_reads_every_part_once_per_cycle():
    start = date(2026, 3, 1)
    parts = {check.rotating_subset(start + timedelta(days=i), 30) for i in range(30)}
    assert parts == {f"{n}/30" for n in range(1, 31)}
    assert all(check.valid_subset(p) for p in parts)
    assert not check.valid_subset("0/30") and not check.valid_subset("31/30")
    assert check.valid_subset("5%") and check.valid_subset("500M")


def test_copy_output_names_the_copied_snapshot():
    assert copy.parse_copy(fixture("copy.stdout")) == ["2c4ea086"]


@pytest.mark.parametrize(
    ("stderr_file", "expected"),
    [
        ("stderr-wrong-password.txt", WrongRepositoryPassword),
        ("stderr-no-repository.txt", RepositoryNotFound),
        ("stderr-locked.txt", RepositoryLocked),
        ("stderr-sftp-refused.txt", RepositoryUnreachable),
        # Also says "Is there a repository at the following location?": network wins.
        ("stderr-s3-refused.txt", RepositoryUnreachable),
    ],
)
def test_restic_014_failures_are_classified_from_stderr(stderr_file, expected):
    error = classify(1, fixture(stderr_file), V014, what="test", location="/r")
    assert type(error) is expected


@pytest.mark.parametrize(
    ("version", "code", "expected"),
    [
        (V0170, 10, RepositoryNotFound),
        (V0170, 11, RepositoryLocked),
        (V0171, 12, WrongRepositoryPassword),
        (V0170, 12, ResticFailed),  # 12 means "wrong password" only from 0.17.1 on
        (V014, 10, ResticFailed),  # 0.14 has no such codes: stderr decides
        (V0171, 1, ResticFailed),
    ],
)
def test_restic_017_exit_codes_map_without_reading_stderr(version, code, expected):
    assert type(classify(code, "", version, what="test", location="/r")) is expected


def test_wrong_password_message_never_contains_restic_output_or_secret():
    error = classify(1, "Fatal: wrong password or no key found\n", V014, what="t", location="/r")
    assert "password" in error.message and error.exit_code == EXIT_BAD_INPUT


def test_version_detection_and_feature_table():
    assert parse_version("restic 0.14.0 compiled with go1.19.8 on linux/amd64") == V014
    with pytest.raises(ResticNotInstalled):
        parse_version("restic 0.13.1 compiled with go1.18 on linux/amd64")
    with pytest.raises(ResticNotInstalled):
        parse_version("something else")
    assert not has(V014, Feature.EXIT_CODES_REPOSITORY)
    assert has(V0170, Feature.EXIT_CODES_REPOSITORY)
    assert not has(V0170, Feature.EXIT_CODE_WRONG_PASSWORD)
    assert has(Version(0, 16, 0), Feature.JSON_RESTORE) and not has(V014, Feature.JSON_RESTORE)


def test_backup_builder_keeps_paths_after_double_dash():
    args = build_backup(paths=["/-odd"], tags=["t"], host="h")
    assert args[-2:] == ["--", "/-odd"]
    stdin = build_backup(stdin_filename="x.pgdump", tags=[], host="h", time=datetime(2026, 1, 2))
    assert stdin[-3:] == ["--stdin", "--stdin-filename", "x.pgdump"]
    assert "2026-01-02 00:00:00" in stdin


def test_stale_lock_rules_ours_dead_and_old_only():
    now = datetime.now(UTC)
    dead_pid = 2**22 + 12345  # above pid_max's default range on this machine
    old = locks.LockInfo("1", now - timedelta(hours=2), True, "me", "root", dead_pid)
    young = locks.LockInfo("2", now - timedelta(minutes=1), True, "me", "root", dead_pid)
    foreign = locks.LockInfo("3", now - timedelta(hours=2), True, "other", "root", dead_pid)
    policy = LockPolicy(wait_seconds=0, stale_after_seconds=3600)
    assert removable(old, policy, now=now, hostname="me")
    assert not removable(young, policy, now=now, hostname="me")
    assert not removable(foreign, policy, now=now, hostname="me")
    # restic would remove both the young dead lock and the old foreign one:
    assert locks.restic_thinks_stale(young, now=now, hostname="me", process_exists=False)
    assert locks.restic_thinks_stale(foreign, now=now, hostname="me", process_exists=True)


def test_masker_hides_every_secret_it_was_told():
    mask = Masker(["s3cr3t-pass", "ab"])
    assert mask("x s3cr3t-pass y ab") == "x *** y ab"


def test_an_error_restic_014_gives_as_an_empty_object_is_judged_by_the_file_itself(tmp_path):
    """restic 0.14 wraps an OpenFile failure (errors.WithStack), which marshals as {}: a
    file renamed into place between restic's lstat and open gives no reason at all. One
    that no longer exists is gone (vanished), one that still exists was not read."""
    gone = parse_error(
        {"message_type": "error", "error": {}, "during": "archival",
         "item": str(tmp_path / ".R1-00200.tmp")}
    )  # fmt: skip
    assert gone.vanished and "no longer exists" in gone.message
    present = tmp_path / "still-here.txt"
    present.write_text("x")
    kept = parse_error(
        {"message_type": "error", "error": {}, "during": "archival", "item": str(present)}
    )
    assert not kept.vanished and "exists but is not in the snapshot" in kept.message
    # A relative path cannot be looked up reliably here: never taken for vanished.
    assert not parse_error({"message_type": "error", "error": None, "item": "rel/x"}).vanished
