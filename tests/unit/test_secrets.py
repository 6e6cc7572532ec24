"""Secret references: only env:NAME or file:PATH, resolved at use time, never echoed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from orchestrator.errors import SecretUnavailable
from orchestrator.inventory.paths import BASE_DIR
from orchestrator.inventory.secrets import (
    NOT_A_REFERENCE,
    SecretRef,
    file_is_private,
    resolve_secret,
    secret_warning,
)


class _Holder(BaseModel):
    password: SecretRef | None = None


def test_env_reference_parses_and_prints_as_written():
    ref = SecretRef.parse("env:PG_PASSWORD")
    assert (ref.kind, ref.target) == ("env", "PG_PASSWORD")
    assert str(ref) == "env:PG_PASSWORD"
    assert repr(ref) == "SecretRef('env:PG_PASSWORD')"


def test_file_reference_parses():
    ref = SecretRef.parse("file:/etc/dr/pg.pass")
    assert ref.kind == "file"
    assert ref.path == Path("/etc/dr/pg.pass")


@pytest.mark.parametrize("text", ["hunter2", "env:1BAD", "env:A-B", "ENV:X", "file:  "])
def test_anything_but_a_reference_is_rejected_without_echoing_it(text):
    with pytest.raises(ValueError) as err:
        SecretRef.parse(text)
    assert text not in str(err.value)


@pytest.mark.parametrize("text", ["env:", "file:"])
def test_a_reference_needs_a_target(text):
    with pytest.raises(ValueError, match="must be followed by"):
        SecretRef.parse(text)


@pytest.mark.parametrize("value", ["S3cret-Pa55", 8675309, ["a"], {"k": "v"}, True])
def test_secret_field_error_never_contains_the_value(value):
    with pytest.raises(ValidationError) as err:
        _Holder(password=value)
    (detail,) = err.value.errors()
    assert detail["type"] == "secret_reference"
    assert detail["msg"] == NOT_A_REFERENCE
    assert str(value) not in detail["msg"]


def test_secret_field_dumps_as_the_reference_text():
    holder = _Holder(password="env:PG_PASSWORD")
    assert holder.model_dump(mode="json") == {"password": "env:PG_PASSWORD"}
    assert holder.model_dump()["password"] == "env:PG_PASSWORD"
    assert _Holder.model_json_schema()["properties"]["password"]["anyOf"][0]["type"] == "string"


def test_relative_file_reference_is_taken_from_the_inventory_directory(tmp_path):
    holder = _Holder.model_validate(
        {"password": "file:secrets/pg.pass"}, context={BASE_DIR: tmp_path}
    )
    assert holder.password == SecretRef("file", str(tmp_path / "secrets" / "pg.pass"))


def test_resolve_env_reference(monkeypatch):
    monkeypatch.setenv("DR_TEST_SECRET", "s3cret")
    assert resolve_secret(SecretRef.parse("env:DR_TEST_SECRET")) == "s3cret"


def test_resolve_unset_env_reference_says_what_to_export(monkeypatch):
    monkeypatch.delenv("DR_TEST_SECRET", raising=False)
    with pytest.raises(SecretUnavailable) as err:
        resolve_secret(SecretRef.parse("env:DR_TEST_SECRET"))
    assert err.value.message == (
        "secret env:DR_TEST_SECRET is not set in the environment; "
        "export DR_TEST_SECRET=... before running"
    )


def test_resolve_empty_env_reference_is_refused(monkeypatch):
    monkeypatch.setenv("DR_TEST_SECRET", "")
    with pytest.raises(SecretUnavailable, match="set but empty"):
        resolve_secret(SecretRef.parse("env:DR_TEST_SECRET"))


@pytest.mark.parametrize(
    ("content", "secret"),
    [("s3cret\n", "s3cret"), ("s3cret", "s3cret"), ("s3cret\r\n", "s3cret"), ("s3 \n\n", "s3 \n")],
)
def test_resolve_file_reference_strips_one_trailing_newline(tmp_path, content, secret):
    path = tmp_path / "pg.pass"
    path.write_bytes(content.encode())
    assert resolve_secret(SecretRef("file", str(path))) == secret


def test_resolve_missing_file_says_so(tmp_path):
    missing = tmp_path / "nope.pass"
    with pytest.raises(SecretUnavailable) as err:
        resolve_secret(SecretRef("file", str(missing)))
    assert f"secret file:{missing}: the file does not exist" in err.value.message


def test_resolve_directory_or_empty_file_is_refused(tmp_path):
    with pytest.raises(SecretUnavailable, match="is a directory"):
        resolve_secret(SecretRef("file", str(tmp_path)))
    empty = tmp_path / "empty.pass"
    empty.write_text("\n")
    with pytest.raises(SecretUnavailable, match="the file is empty"):
        resolve_secret(SecretRef("file", str(empty)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read any file")
def test_resolve_unreadable_file_says_permission_denied(tmp_path):
    path = tmp_path / "pg.pass"
    path.write_text("s3cret")
    path.chmod(0o000)
    with pytest.raises(SecretUnavailable, match="permission denied"):
        resolve_secret(SecretRef("file", str(path)))


def test_file_is_private_only_without_group_or_other_bits(tmp_path):
    path = tmp_path / "pg.pass"
    path.write_text("s3cret")
    path.chmod(0o600)
    assert file_is_private(path)
    path.chmod(0o640)
    assert not file_is_private(path)
    path.chmod(0o604)
    assert not file_is_private(path)


def test_secret_warning_flags_unset_env_missing_and_shared_files(tmp_path, monkeypatch):
    monkeypatch.delenv("DR_TEST_SECRET", raising=False)
    assert "not set" in (secret_warning(SecretRef("env", "DR_TEST_SECRET")) or "")
    monkeypatch.setenv("DR_TEST_SECRET", "x")
    assert secret_warning(SecretRef("env", "DR_TEST_SECRET")) is None

    path = tmp_path / "pg.pass"
    assert "does not exist" in (secret_warning(SecretRef("file", str(path))) or "")
    path.write_text("s3cret")
    path.chmod(0o644)
    assert f"chmod 600 {path}" in (secret_warning(SecretRef("file", str(path))) or "")
    path.chmod(0o600)
    assert secret_warning(SecretRef("file", str(path))) is None
