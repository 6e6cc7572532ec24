"""Hostile inventories (issue 17, item 8): alias bombs, oversized files, booleans read as
ports, infinite timeouts, names longer than the journal keeps, cleartext in production,
and terminal escapes from inventory values."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.errors import EXIT_BAD_INPUT, InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.limits import MAX_FILE_BYTES, MAX_NAME_LENGTH

REPO = Path(__file__).resolve().parents[2]
DRILL = REPO / "tests" / "data" / "inventories" / "drill-small.yaml"
DR = Path(sys.executable).parent / "dr"


def variant(tmp_path: Path, old: str, new: str, name: str = "inv.yaml") -> Path:
    text = DRILL.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    # Relative paths in the inventory (keys, secrets) resolve next to the file.
    for item in ("keys", "secrets", "known_hosts"):
        if (DRILL.parent / item).exists() and not (tmp_path / item).exists():
            (tmp_path / item).symlink_to(DRILL.parent / item)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    return [str(p) for p in err.value.problems]


def alias_bomb(levels: int = 9) -> str:
    lines = ["name: bomb", "environment: drill", 'a0: &a0 ["lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        refs = ",".join([f"*a{n - 1}"] * 9)
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(), encoding="utf-8")
    assert path.stat().st_size < 2000  # a few hundred bytes that expand to billions
    started = time.monotonic()
    found = problems(path)
    assert time.monotonic() - started < 2
    assert len(found) == 1
    assert found[0].startswith(f"{path}: ")
    assert "aliases would expand" in found[0]


def test_the_alias_bomb_exits_2_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(), encoding="utf-8")
    result = subprocess.run(
        [str(DR), "inventory", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr


def test_modest_aliases_still_load(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "  - {name: dc, kind: datacentre}\n  - {name: branch-1, kind: branch}\n",
        "  - &dc {name: dc, kind: datacentre}\n  - {<<: *dc, name: branch-1, kind: branch}\n",
    )
    assert [s.name for s in load_inventory(path).sites] == ["dc", "branch-1", "backup"]


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as handle:
        handle.write("name: huge\nenvironment: drill\ndescription: '")
        handle.write("x" * (MAX_FILE_BYTES + 10))
        handle.write("'\n")
    found = problems(path)
    assert len(found) == 1 and "larger than" in found[0] and found[0].startswith(str(path))


def test_port_true_is_not_port_1(tmp_path: Path) -> None:
    path = variant(tmp_path, "port: 2222", "port: true")
    found = problems(path)
    assert any("hosts[1].ssh.port" in p for p in found), found


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN"])
def test_infinite_or_nan_timeouts_are_refused(tmp_path: Path, value: str) -> None:
    path = variant(
        tmp_path,
        "    roles: [backup]\n",
        f"    roles: [backup]\n    ssh: {{connect_timeout: {value}}}\n",
    )
    found = problems(path)
    assert any("connect_timeout" in p for p in found), found


@pytest.mark.parametrize("bound", ["min: .nan", "max: .inf", "equals: .nan"])
def test_infinite_or_nan_expectations_are_refused(tmp_path: Path, bound: str) -> None:
    check = f"{{name: rows, sql: 'SELECT 1', expect: {{{bound}}}}}"
    path = variant(
        tmp_path, "    rpo: 1d\n", f"    rpo: 1d\n    restore_test: {{validations: [{check}]}}\n"
    )
    found = problems(path)
    assert any("restore_test.validations[0].expect" in p for p in found), found


def test_a_name_longer_than_the_journal_column_is_refused_at_its_line(tmp_path: Path) -> None:
    long = "h" * (MAX_NAME_LENGTH + 1)
    path = variant(tmp_path, "name: backup-1", f"name: {long}")
    found = problems(path)
    assert any(":29: hosts[2].name:" in p and f"at most {MAX_NAME_LENGTH}" in p for p in found), (
        found
    )


def test_inventory_name_at_the_limit_is_accepted(tmp_path: Path) -> None:
    path = variant(tmp_path, "name: lab\n", f"name: {'n' * MAX_NAME_LENGTH}\n")
    assert load_inventory(path).name == "n" * MAX_NAME_LENGTH


PRODUCTION = REPO / "inventory" / "example-production.yaml"


def production_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = PRODUCTION.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "prod.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_cleartext_in_production_is_warned_about_by_inventory_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.inventory.cleartext import cleartext_warnings

    monkeypatch.setenv("DR_WECOM_BOT_URL", "http://qyapi.example/send?key=t0k3n-x")
    monkeypatch.setenv("DR_DINGTALK_BOT_URL", "file:///etc/passwd")
    inventory = load_inventory(PRODUCTION)
    warnings = "\n".join(cleartext_warnings(inventory))
    assert "NUT at 10.77.0.5:3493 is read in cleartext" in warnings
    assert "sslmode is prefer; production expects verify-full" in warnings
    assert "webhook duty-room: its URL (env:DR_WECOM_BOT_URL) is http://" in warnings
    assert "is file://" in warnings
    assert "t0k3n-x" not in warnings
    # The same file as a drill warns of nothing.
    drill = production_variant(tmp_path, "environment: production", "environment: drill")
    assert cleartext_warnings(load_inventory(drill)) == []


def test_s3_over_http_in_production_is_warned_about(tmp_path: Path) -> None:
    from orchestrator.inventory.cleartext import cleartext_warnings

    text = PRODUCTION.read_text(encoding="utf-8")
    start = text.index("repository: s3:") + len("repository: s3:")
    path = tmp_path / "prod.yaml"
    path.write_text(text[:start] + "http://" + text[start:].removeprefix("https://"))
    warnings = cleartext_warnings(load_inventory(path))
    assert any("is S3 over plain HTTP" in w for w in warnings), warnings


def test_verify_full_database_gives_no_tls_warning(tmp_path: Path) -> None:
    from orchestrator.inventory.cleartext import cleartext_warnings

    path = production_variant(
        tmp_path, "    database:\n", "    database:\n      sslmode: verify-full\n"
    )
    inventory = load_inventory(path)
    assert inventory.host_pairs[0].database is not None
    assert inventory.host_pairs[0].database.sslmode == "verify-full"
    assert not any("sslmode" in w for w in cleartext_warnings(inventory))


@pytest.mark.parametrize(
    "name",
    ["credit host=evil.example", "credit'", "postgresql://evil/credit", "a\\b", "x" * 64],
)
def test_database_names_that_a_client_would_read_as_conninfo_are_refused(
    tmp_path: Path, name: str
) -> None:
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    path = variant(tmp_path, "databases: [{name: credit,", f"databases: [{{name: {quoted},")
    found = problems(path)
    assert any("backup_sets[0].databases[0].name" in p for p in found), found
