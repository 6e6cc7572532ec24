"""Secrets stay secret (issue 17, item 5): masking on values, children's environments,
the journal URL's password and the database name pg_dump is given."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backups.execute import Masker, child_environment, hook_environment
from backups.sources.postgres import DumpTarget, client_environment, dump_command
from orchestrator.inventory.secrets import SecretRef, resolve_secret
from orchestrator.journal import resolve_journal_url
from orchestrator.journal.location import password_on_command_line
from orchestrator.masking import known_secrets

AWKWARD = ['pa"ss\\word', "口令-密码-2024", "true", "null-ish", "tab\there", "12345"]


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


@pytest.mark.parametrize("secret", AWKWARD)
def test_masking_works_on_values_whatever_the_secret_holds(secret: str) -> None:
    masker = Masker([secret])
    data = {
        "stderr": f"login failed for {secret}\n",
        "nested": [{"url": f"postgresql://u:{secret}@h/db"}, 5, True, None],
        secret: "as a key",
        "flag": True,
        "count": 3,
    }
    masked = masker.data(data)
    texts = strings(masked)
    assert texts and not any(secret in t for t in texts)
    # Serialised afterwards, the secret's JSON form cannot appear either.
    assert json.dumps(secret)[1:-1] not in json.dumps(masked).replace("true", "")
    assert masked["flag"] is True and masked["count"] == 3  # `true` as a secret breaks nothing
    assert masked["stderr"] == "login failed for ***\n"


def test_every_resolved_secret_is_known_to_the_journal_masker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARDEN_TEST_SECRET", "s3cr3t-value-\u00e9")
    value = resolve_secret(SecretRef.parse("env:HARDEN_TEST_SECRET"))
    assert known_secrets()(f"echo {value}") == "echo ***"


def test_children_inherit_no_secret_from_our_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_SMTP_PASSWORD", "smtp-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("LC_TIME", "C.UTF-8")
    env = child_environment({"RESTIC_PASSWORD_FILE": "/x"}, ("RESTIC_", "AWS_"))
    assert "DR_SMTP_PASSWORD" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["PATH"] == os.environ["PATH"] and env["LC_TIME"] == "C.UTF-8"
    assert env["RESTIC_PASSWORD_FILE"] == "/x"


def test_hooks_keep_our_environment_but_not_the_inventory_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DR_SMTP_PASSWORD", "smtp-secret")
    monkeypatch.setenv("SITE_TOOL_HOME", "/opt/tool")
    env = hook_environment({"DR_BACKUP_SET": "s"}, ["DR_SMTP_PASSWORD"])
    assert "DR_SMTP_PASSWORD" not in env and env["SITE_TOOL_HOME"] == "/opt/tool"


def test_pg_dump_gets_the_database_name_as_a_name_never_as_a_connection_string(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARDEN_PG_PASSWORD", "pg-secret")
    monkeypatch.setenv("DR_OTHER_SECRET", "other")
    target = DumpTarget(
        name="credit host=evil.example",
        host_pair="credit",
        address="10.0.0.1",
        port=5432,
        user="backup",
        password_ref=SecretRef.parse("env:HARDEN_PG_PASSWORD"),
        sslmode="verify-full",
        sslrootcert="/etc/dr/pg-ca.crt",
    )
    argv = dump_command(target, "00000003-1")
    assert not any("evil" in arg for arg in argv) and "--dbname" not in argv
    env = client_environment(target, Masker())
    assert env["PGDATABASE"] == "credit host=evil.example"
    assert env["PGSSLMODE"] == "verify-full" and env["PGSSLROOTCERT"] == "/etc/dr/pg-ca.crt"
    assert env["PGPASSWORD"] == "pg-secret" and "DR_OTHER_SECRET" not in env


def test_db_accepts_a_reference_and_warns_of_a_password_in_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://dr:pw-in-url@db.example/dr"
    monkeypatch.setenv("HARDEN_DB_URL", url)
    assert resolve_journal_url("env:HARDEN_DB_URL") == url
    (tmp_path / "db.url").write_text(url + "\n")
    assert resolve_journal_url(f"file:{tmp_path / 'db.url'}") == url
    monkeypatch.setenv("DR_DB", "env:HARDEN_DB_URL")
    assert resolve_journal_url(None) == url
    warning = password_on_command_line(url)
    assert warning is not None and "pw-in-url" not in warning
    assert password_on_command_line("env:HARDEN_DB_URL") is None
    assert password_on_command_line("sqlite:////tmp/j.sqlite3") is None
    assert password_on_command_line(None) is None


def test_a_backup_event_with_awkward_secrets_is_journaled_masked(tmp_path: Path) -> None:
    from backups.context import BackupContext
    from orchestrator.inventory import load_inventory
    from orchestrator.journal import Journal

    drill = Path(__file__).resolve().parents[2] / "tests/data/inventories/drill-small.yaml"
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    try:
        ctx = BackupContext.for_set(load_inventory(drill), "credit-db", journal=journal)
        for secret in AWKWARD:
            ctx.masker.add(secret)
        ctx.record("backup.note", {"ok": True, "stderr": " ".join(AWKWARD), "n": None})
        [event] = journal.events(kinds=("backup.note",))
    finally:
        journal.close()
    assert event.data["ok"] is True and event.data["n"] is None
    assert event.data["stderr"] == " ".join(["***"] * len(AWKWARD))
