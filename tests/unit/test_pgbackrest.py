"""pgBackRest's command builders, output parsers, error classification, configuration and
archive commands, on output captured from real pgBackRest 2.45 runs
(tests/data/pgbackrest-2.45/README.md says how each file was made)."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from backups.pgbackrest import repo_ls
from backups.pgbackrest.archiving import (
    SecretSource,
    archive_get_command,
    archive_push_command,
    postgresql_settings,
)
from backups.pgbackrest.backup import build_backup, upgraded_to_full
from backups.pgbackrest.check import build_verify, parse_verify
from backups.pgbackrest.config import (
    PosixStorage,
    RepositorySettings,
    S3Storage,
    StanzaSettings,
    render_config,
    secret_names,
)
from backups.pgbackrest.errors import classify, repository_problem, summary
from backups.pgbackrest.features import Feature, Version, has, parse_version
from backups.pgbackrest.info import parse_info
from backups.pgbackrest.restore import RecoveryTarget, build_restore
from orchestrator.errors import (
    ArchivingBroken,
    DatabaseUnreachable,
    PgBackRestFailed,
    PgBackRestNotInstalled,
    RepositoryLocked,
    RepositoryNotFound,
    RepositoryUnreachable,
    RestoreRefused,
    WrongRepositoryPassword,
)

DATA = Path(__file__).parent.parent / "data" / "pgbackrest-2.45"
V245 = Version(2, 45)


def sample(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


# -- version and features ---------------------------------------------------------------


def test_version_is_read_and_features_follow_it() -> None:
    assert parse_version(sample("version.stdout")) == V245
    assert parse_version("pgBackRest 2.59.0\n") == Version(2, 59, 0)
    assert has(V245, Feature.BACKUP_ANNOTATION) and has(V245, Feature.VERIFY_OUTPUT)
    assert not has(Version(2, 38), Feature.REPO_BUNDLE)


@pytest.mark.parametrize("output", ["pgBackRest 2.32", "bash: pgbackrest: not found"])
def test_an_old_or_unknown_pgbackrest_is_refused_with_what_to_install(output: str) -> None:
    with pytest.raises(PgBackRestNotInstalled, match=r"apt-get install pgbackrest|2\.33"):
        parse_version(output)


# -- builders ---------------------------------------------------------------------------


def test_a_backup_goes_to_one_repository_annotated_with_the_run() -> None:
    assert build_backup("diff", 2, V245, run_id="r1") == [
        "backup", "--type=diff", "--repo=2", "--annotation=dr-run=r1",
    ]  # fmt: skip
    assert build_backup("full", 1, Version(2, 40), run_id="r1") == [
        "backup", "--type=full", "--repo=1",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        build_backup("differential", 1, V245)  # type: ignore[arg-type]


def test_a_diff_without_a_full_before_it_is_known_to_have_become_a_full() -> None:
    assert upgraded_to_full(sample("backup-diff-repo2-upgraded.stderr"))
    assert not upgraded_to_full("")


def test_verify_asks_for_its_verdict_on_stdout_where_the_version_has_it() -> None:
    assert build_verify(2, V245) == ["verify", "--repo=2", "--output=text", "--verbose"]
    assert build_verify(2, Version(2, 36)) == ["verify", "--repo=2"]


def test_restore_to_a_time_promotes_there_and_leaves_archiving_off() -> None:
    moment = datetime(2026, 12, 3, 14, 32, tzinfo=timezone(timedelta(hours=8)))
    args = build_restore(
        RecoveryTarget.at_time(moment), repository=2, pg_path="/srv/restored",
        restore_command="X=1 pgbackrest archive-get %f \"%p\"",
    )  # fmt: skip
    assert args == [
        "restore", "--type=time", "--target=2026-12-03 14:32:00+08:00",
        "--target-action=promote", "--repo=2", "--pg1-path=/srv/restored",
        "--archive-mode=off", '--recovery-option=restore_command=X=1 pgbackrest archive-get '
        '%f "%p"',
    ]  # fmt: skip


def test_restore_targets_are_checked_before_pgbackrest_sees_them() -> None:
    assert build_restore(RecoveryTarget.latest(), delta=True) == [
        "restore", "--type=default", "--delta", "--archive-mode=off",
    ]  # fmt: skip
    exclusive = build_restore(RecoveryTarget.at_xid(4711, exclusive=True), backup_set="L")
    assert "--target-exclusive" in exclusive and "--set=L" in exclusive
    assert RecoveryTarget.at_lsn("0/3000060").target == "0/3000060"
    with pytest.raises(ValueError, match="time zone"):
        RecoveryTarget.at_time(datetime(2026, 12, 3, 14, 32))
    with pytest.raises(ValueError, match="not an LSN"):
        RecoveryTarget.at_lsn("3000060")
    with pytest.raises(ValueError, match="needs a target"):
        build_restore(RecoveryTarget("time"))


def test_one_stored_wal_segment_is_listed_by_its_directory_and_name() -> None:
    segment = "000000010000000000000008"
    assert repo_ls.build_segment_listing("demo", "15-1", segment, 1) == [
        "repo-ls", "archive/demo/15-1/0000000100000000", "--repo=1", "--output=json",
        f"--filter=^{segment}-",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        repo_ls.segment_directory("demo", "15-1", "../../etc")


# -- parsers ----------------------------------------------------------------------------


def test_info_gives_each_repository_its_backups_and_wal_range() -> None:
    info = parse_info(sample("info.stdout"), "demo")

    assert [r.code for r in info.repositories] == [0, 0] and info.cipher == "aes-256-cbc"
    full, diff = info.backups_in(1)
    assert (full.type, full.label) == ("full", "20261203-223032F")
    assert (diff.type, diff.prior, diff.references) == ("diff", full.label, (full.label,))
    assert full.start == datetime.fromtimestamp(1796337032, UTC)
    assert full.stop - full.start == timedelta(seconds=4)
    assert (full.database_size, full.repository_size) == (22987390, 3072192)
    assert (diff.wal_start, diff.wal_stop) == ("000000010000000000000007",) * 2
    assert [b.type for b in info.backups_in(2)] == ["full"]
    assert info.annotated("dr-run", "20261203T000001Z-bbbbbb") == [diff]
    archive = info.archive_in(2)
    assert archive is not None and archive.archive_id == "15-1"
    assert (archive.oldest, archive.newest) == (
        "000000010000000000000001", "000000010000000000000008",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("info-no-stanza.stdout", RepositoryNotFound, "dr backup init"),
        ("info-wrong-cipher.stdout", WrongRepositoryPassword, "cipher_pass"),
        ("info-s3-unreachable.stdout", RepositoryUnreachable, "Connection refused"),
    ],
)
def test_info_exits_0_but_its_repository_status_names_the_problem(name, error, words) -> None:
    info = parse_info(sample(name), "demo")
    [status, *_] = info.repositories
    problem = repository_problem(status.code, status.message, what="list", where="stanza demo")
    assert isinstance(problem, error) and words in problem.message


def test_an_empty_repository_is_not_a_problem() -> None:
    assert repository_problem(2, "no valid backups", what="list", where="demo") is None


def test_verify_ok_and_verify_of_a_damaged_backup() -> None:
    good = parse_verify(1, sample("verify-repo1-ok.stdout"))
    assert good.ok and good.findings() == []
    assert [(i.kind, i.checked) for i in good.items][:2] == [("archive", 8), ("backup", 966)]

    damaged = parse_verify(1, sample("verify-repo1-damaged.stdout"))
    assert damaged.status == "error" and not damaged.ok
    assert damaged.findings() == [
        "repo1: backup 20261203-223032F: invalid, 965 of 966 valid, checksum invalid 1"
    ]


def test_the_newest_segments_arrival_is_its_stored_time() -> None:
    files = repo_ls.parse_repo_ls(sample("repo-ls-archive.stdout"))
    assert [f.name.split("-")[0] for f in files] == ["000000010000000000000008"]
    assert repo_ls.newest_time(files) == datetime.fromtimestamp(1796337046, UTC)
    assert repo_ls.newest_time([]) is None


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "error", "words"),
    [
        ("backup-no-stanza.stderr", 55, RepositoryNotFound, "dr backup init"),
        ("backup-wrong-cipher.stderr", 29, WrongRepositoryPassword, "cipher_pass"),
        ("backup-locked.stderr", 50, RepositoryLocked, "another pgBackRest process"),
        ("backup-db-down.stderr", 56, DatabaseUnreachable, "pg_port"),
        ("backup-s3-unreachable.stderr", 49, RepositoryUnreachable, "Connection refused"),
        ("check-archive-timeout.stderr", 82, ArchivingBroken, "was not archived"),
        ("check-archive-command-invalid.stderr", 68, ArchivingBroken, "must contain"),
        ("restore-running.stderr", 38, RestoreRefused, "PostgreSQL is running"),
        ("restore-not-empty.stderr", 40, RestoreRefused, "contains files"),
        ("backup-no-cipher-pass.stderr", 37, PgBackRestFailed, "repo1-cipher-pass"),
    ],
)
def test_each_failure_becomes_our_error_saying_what_to_do(name, code, error, words) -> None:
    found = classify(code, sample(name), what="backup", where="stanza demo")
    assert type(found) is error and words in found.message


def test_the_noise_a_wrong_cipher_pass_decrypts_into_is_not_repeated() -> None:
    text = summary(sample("backup-wrong-cipher.stderr"))
    assert text.startswith("ERROR: [029]: unable to load info file")
    assert "\ufffd" not in text and "FormatError" not in text and "HINT:" in text


# -- configuration ----------------------------------------------------------------------


def settings(**changes: object) -> StanzaSettings:
    values: dict[str, object] = {
        "set_name": "credit-pitr",
        "stanza": "credit",
        "pg_path": "/var/lib/postgresql/15/main",
        "pg_port": 5432,
        "pg_socket_path": "/var/run/postgresql",
        "pg_user": "postgres",
        "repositories": (
            RepositorySettings(PosixStorage("/srv/pgbackrest/credit"), 2, 6),
            RepositorySettings(
                S3Storage(
                    "localhost:9000",
                    "dr-pitr",
                    "us-east-1",
                    "/credit",
                    "path",
                    ca_file="/etc/dr/s3-ca.pem",
                ),
                4,
            ),
        ),
        "spool_path": "/var/spool/pgbackrest",
        "log_path": "/var/log/pgbackrest",
        "lock_path": "/tmp/pgbackrest",
        **changes,
    }
    return StanzaSettings(**values)  # type: ignore[arg-type]


def test_the_config_file_names_every_repository_and_holds_no_secret() -> None:
    text = render_config(settings(), V245)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "[global]",
        "repo1-path=/srv/pgbackrest/credit",
        "repo1-cipher-type=aes-256-cbc",
        "repo1-retention-full=2",
        "repo1-retention-diff=6",
        "repo1-bundle=y",
        "repo2-type=s3",
        "repo2-path=/credit",
        "repo2-s3-bucket=dr-pitr",
        "repo2-s3-endpoint=localhost:9000",
        "repo2-s3-region=us-east-1",
        "repo2-s3-uri-style=path",
        "repo2-storage-verify-tls=y",
        "repo2-storage-ca-file=/etc/dr/s3-ca.pem",
        "repo2-cipher-type=aes-256-cbc",
        "repo2-retention-full=4",
        "repo2-bundle=y",
        "archive-async=y",
        "spool-path=/var/spool/pgbackrest",
        "process-max=2",
        "start-fast=n",
        "log-path=/var/log/pgbackrest",
        "lock-path=/tmp/pgbackrest",
        "log-level-console=off",
        "log-level-stderr=warn",
        "log-level-file=info",
        "",
        "[credit]",
        "pg1-path=/var/lib/postgresql/15/main",
        "pg1-port=5432",
        "pg1-socket-path=/var/run/postgresql",
        "pg1-user=postgres",
    ]
    assert "cipher-pass" not in text and "s3-key" not in text
    assert "bundle" not in render_config(settings(), Version(2, 38))


def test_a_value_that_would_start_a_new_option_is_refused() -> None:
    with pytest.raises(ValueError):
        render_config(settings(pg_path="/srv/x\nrepo1-path=/tmp"), V245)


def test_secrets_travel_in_the_variables_pgbackrest_reads() -> None:
    repos = settings().repositories
    assert secret_names(1, repos[0]).cipher_pass == "PGBACKREST_REPO1_CIPHER_PASS"
    assert secret_names(1, repos[0]).s3_key is None
    names = secret_names(2, repos[1])
    assert (names.s3_key, names.s3_key_secret) == (
        "PGBACKREST_REPO2_S3_KEY", "PGBACKREST_REPO2_S3_KEY_SECRET",
    )  # fmt: skip


# -- archive_command and restore_command ------------------------------------------------


def test_archive_command_reads_its_secrets_when_it_runs_and_never_passes_them_as_arguments(
    tmp_path: Path,
) -> None:
    """Run the command line through /bin/sh, as PostgreSQL does, with a stand-in for
    pgbackrest that prints its arguments and the variables it was given."""
    secret_file = tmp_path / "cipher pass"  # a space: the path must be quoted
    secret_file.write_text("Cipher-Pass-1\n")
    stand_in = tmp_path / "pgbackrest"
    stand_in.write_text(
        '#!/bin/sh\necho "args: $*"\necho "pass: $PGBACKREST_REPO1_CIPHER_PASS"\n'
        'echo "key: $PGBACKREST_REPO2_S3_KEY"\n'
    )
    stand_in.chmod(stat.S_IRWXU)
    sources = {
        "PGBACKREST_REPO1_CIPHER_PASS": SecretSource("file", str(secret_file)),
        "PGBACKREST_REPO2_S3_KEY": SecretSource("env", "DR_S3_KEY"),
    }
    command = archive_push_command(str(stand_in), "/etc/pgbackrest/credit.conf", "credit", sources)

    assert "Cipher-Pass-1" not in command and command.endswith(" archive-push %p")
    shell_line = command.replace("%p", "pg_wal/000000010000000000000003")
    env = {"PATH": os.environ["PATH"], "DR_S3_KEY": "AKIA-1"}
    output = subprocess.run(
        ["/bin/sh", "-c", shell_line], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert output == [
        "args: --config=/etc/pgbackrest/credit.conf --stanza=credit archive-push "
        "pg_wal/000000010000000000000003",
        "pass: Cipher-Pass-1",
        "key: AKIA-1",
    ]


def test_restore_command_serves_the_directory_it_restored_into() -> None:
    sources = {"PGBACKREST_REPO1_CIPHER_PASS": SecretSource("file", "/etc/dr/p.pass")}
    command = archive_get_command("/usr/bin/pgbackrest", "/c.conf", "credit", sources,
                                  pg_path="/srv/restored")  # fmt: skip
    assert command == (
        'PGBACKREST_REPO1_CIPHER_PASS="$(cat /etc/dr/p.pass)" /usr/bin/pgbackrest '
        '--config=/c.conf --stanza=credit --pg1-path=/srv/restored archive-get %f "%p"'
    )


def test_postgresql_settings_quote_the_command_for_postgresql_conf() -> None:
    command = "X=\"$(cat '/a b')\" pgbackrest archive-push %p"
    found = postgresql_settings(command, 60)
    assert found["archive_command"] == "'" + command.replace("'", "''") + "'"
    assert (found["archive_mode"], found["archive_timeout"]) == ("on", "'60s'")
    assert shlex.split(command)[-1] == "%p"
