"""Backup sets of kind postgres-pitr: the inventory model, what dr gives pgBackRest from
it (configuration values, secret variables, archive_command), the choice of base
backup by schedule, and the private configuration file."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backups.execute import Masker
from backups.pitr import files
from backups.pitr.schedule import choose_type, last_firing
from backups.pitr.settings import (
    pg_port,
    resolve_secrets,
    secret_refs,
    server_settings,
    stanza_settings,
)
from orchestrator.errors import SecretUnavailable, UserInputError
from orchestrator.inventory import Inventory, PitrBackupSet, SecretRef, load_inventory
from orchestrator.inventory.pitr_sets import PitrSchedule

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory" / "example-production.yaml"
SHANGHAI = "Asia/Shanghai"


@pytest.fixture
def example() -> Inventory:
    return load_inventory(EXAMPLE)


def test_a_set_without_kind_is_a_restic_set_and_the_example_has_one_of_each(example) -> None:
    assert [s.kind for s in example.backup_sets] == ["restic", "restic", "postgres-pitr"]
    assert [s.name for s in example.restic_sets] == ["credit-db", "credit-messages"]
    [pitr] = example.pitr_sets
    assert (pitr.stanza, pitr.archive_timeout, pitr.config_path) == (
        "credit", 60, "/etc/pgbackrest/credit.conf",
    )  # fmt: skip
    assert example.any_backup_set("credit-pitr") is pitr


def test_restic_only_commands_name_the_kind_of_a_pitr_set(example) -> None:
    with pytest.raises(UserInputError, match="postgres-pitr"):
        example.backup_set("credit-pitr")


def test_the_example_set_becomes_pgbackrest_settings(example) -> None:
    pitr = example.pitr_sets[0]
    settings = stanza_settings(example, pitr)
    assert pg_port(example, pitr) == 5432  # the pair's database port
    assert settings.describe() == (
        "stanza 'credit' [repo1 (/srv/pgbackrest/credit), repo2 "
        "(s3://qsrcc-dr-pitr/credit at s3.cn-north-1.amazonaws.com.cn)]"
    )
    assert [(r.retention_full, r.retention_diff) for r in settings.repositories] == [
        (2, 6), (4, None),
    ]  # fmt: skip


def test_each_repository_has_its_secret_variables_and_a_repository_may_have_its_own_pass(
    example,
) -> None:
    pitr = example.pitr_sets[0]
    refs = secret_refs(example, pitr)
    assert refs == {
        "PGBACKREST_REPO1_CIPHER_PASS": SecretRef("file", "/etc/dr/pgbackrest-credit.pass"),
        "PGBACKREST_REPO2_CIPHER_PASS": SecretRef("file", "/etc/dr/pgbackrest-credit.pass"),
        "PGBACKREST_REPO2_S3_KEY": SecretRef("env", "DR_OFFSITE_S3_KEY_ID"),
        "PGBACKREST_REPO2_S3_KEY_SECRET": SecretRef("env", "DR_OFFSITE_S3_SECRET"),
    }
    own = pitr.model_copy(
        update={"repositories": [
            pitr.repositories[0].model_copy(update={"cipher_pass": SecretRef("env", "OWN")})
        ]}
    )  # fmt: skip
    assert secret_refs(example, own) == {"PGBACKREST_REPO1_CIPHER_PASS": SecretRef("env", "OWN")}


def test_secrets_are_resolved_before_anything_runs_and_taught_to_the_masker(
    example, monkeypatch
) -> None:
    pitr = example.pitr_sets[0]
    monkeypatch.delenv("DR_OFFSITE_S3_KEY_ID", raising=False)
    with pytest.raises(SecretUnavailable):
        resolve_secrets(example, pitr, Masker())
    own = pitr.model_copy(update={"cipher_pass": SecretRef("env", "DR_T_PASS")})
    monkeypatch.setenv("DR_T_PASS", "pass-Value-1")
    monkeypatch.setenv("DR_OFFSITE_S3_KEY_ID", "AKIA-T")
    monkeypatch.setenv("DR_OFFSITE_S3_SECRET", "s3-Secret-T")
    masker = Masker()
    values = resolve_secrets(example, own, masker)
    assert values["PGBACKREST_REPO2_S3_KEY_SECRET"] == "s3-Secret-T"
    assert masker("pass-Value-1 s3-Secret-T") == "*** ***"


def test_archive_command_names_where_the_secrets_are_never_what_they_are(example) -> None:
    found = server_settings(example, example.pitr_sets[0], "/usr/bin/pgbackrest")
    command = found["archive_command"]
    assert command.startswith("'PGBACKREST_REPO1_CIPHER_PASS=\"$(cat /etc/dr/pgbackrest-credit")
    assert '"${DR_OFFSITE_S3_SECRET}"' in command
    assert command.endswith(
        "/usr/bin/pgbackrest --config=/etc/pgbackrest/credit.conf --stanza=credit archive-push %p'"
    )
    assert found["archive_timeout"] == "'60s'"


# -- which base backup ------------------------------------------------------------------


def shanghai(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(SHANGHAI))  # type: ignore[misc]


WEEKLY = PitrSchedule(full="0 1 * * 0", diff="0 1 * * 1-6")


@pytest.mark.parametrize(
    ("now", "kind"),
    [
        (shanghai(2026, 12, 6, 1, 0), "full"),  # Sunday, at the moment it fires
        (shanghai(2026, 12, 6, 23, 0), "full"),  # Sunday evening, by hand
        (shanghai(2026, 12, 7, 0, 59), "full"),  # Monday before its diff
        (shanghai(2026, 12, 7, 1, 0), "diff"),
    ],
)
def test_the_schedule_that_fired_last_decides(now: datetime, kind: str) -> None:
    assert choose_type(WEEKLY, now, SHANGHAI)[0] == kind


def test_without_a_schedule_a_diff_which_pgbackrest_makes_full_when_it_must() -> None:
    chosen, reason = choose_type(PitrSchedule(), datetime(2026, 12, 7, tzinfo=UTC), "UTC")
    assert chosen == "diff" and "full if there is none" in reason


def test_a_full_wins_a_tie_and_schedules_of_seconds_are_found_quickly() -> None:
    both = PitrSchedule(full="*/5 * * * * *", diff="*/5 * * * * *")
    assert choose_type(both, datetime(2026, 12, 7, 3, 0, 11, tzinfo=UTC), "UTC")[0] == "full"
    monthly = "0 2 1 * *"
    assert last_firing(monthly, datetime(2026, 12, 20, tzinfo=UTC), "UTC") == datetime(
        2026, 12, 1, 2, 0, tzinfo=ZoneInfo("UTC")
    )


# -- the configuration file -------------------------------------------------------------


def test_the_configuration_is_written_whole_private_and_only_when_it_changed(tmp_path) -> None:
    me = pwd.getpwuid(os.geteuid())
    path = tmp_path / "etc" / "pgbackrest" / "credit.conf"
    assert files.write_private(path, "[global]\nrepo1-path=/srv\n", me)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not files.write_private(path, "[global]\nrepo1-path=/srv\n", me)
    path.chmod(0o644)  # someone loosened it: written again, private
    assert files.write_private(path, "[global]\nrepo1-path=/srv\n", me)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["credit.conf"]  # no temporary left


def test_a_pitr_set_model_round_trips_without_its_secrets(example) -> None:
    dumped = example.pitr_sets[0].model_dump(mode="json")
    assert dumped["cipher_pass"] == "file:/etc/dr/pgbackrest-credit.pass"
    assert PitrBackupSet.model_validate(dumped).repositories[1].bucket == "qsrcc-dr-pitr"
