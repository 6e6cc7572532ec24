"""Hostile values in an inventory (issue 17, item 2): shell syntax, control characters,
a leading '-', terminal escapes and quotes, put into the names and identifiers of the
shipped inventories, are refused by `dr inventory check` at their line; and the
commands the runbooks send quote every value they fill in, so a value that got through
would still arrive as one word."""

from __future__ import annotations

import functools
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.cli import main
from orchestrator.errors import EXIT_BAD_INPUT, UserInputError
from orchestrator.inventory import Host, load_inventory
from orchestrator.inventory.command_templates import fill
from orchestrator.postgresql import debian_commands as debian
from orchestrator.postgresql.replication import Upstream
from runbooks import line_failover, switch_failover
from runbooks._dual_host import control
from runbooks._power import DRILL_SHUTDOWN, PRODUCTION_SHUTDOWN, shutdown_command
from runbooks._standby import follow_command

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "inventory" / "example-production.yaml"
LAB = ROOT / "inventory" / "lab.yaml"
DRILL = ROOT / "tests" / "data" / "inventories" / "drill-small.yaml"
ENGINE_DRILL = ROOT / "tests" / "data" / "engine-drill.yaml"

HOSTILE = {
    "command-substitution": "$(id)",
    "command-separator": "a;rm -rf /",
    "backquotes": "`id`",
    "nul": "a\x00b",
    "newline": "a\nb",
    "leading-dash": "-oProxyCommand=id",
    "escape": "a\x1b[2Jb",
    "right-to-left-mark": "a\u200fb",
    "right-to-left-override": "a\u202eb",
    "single-quote": "a'b",
    "double-quote": 'a"b',
    "space": "a b",
}

# Where names and identifiers sit, as paths with "*" for "the first item of the list".
NAME_FIELDS = [
    ("sites", "*", "name"),
    ("hosts", "*", "name"),
    ("hosts", "*", "site"),
    ("hosts", "*", "roles", "*"),
    ("host_pairs", "*", "name"),
    ("host_pairs", "*", "primary"),
    ("host_pairs", "*", "standby"),
    ("lines", "*", "name"),
    ("lines", "*", "switch"),
    ("switches", "*", "name"),
    ("power", "ups", "*", "name"),
    ("power", "generators", "*", "name"),
    ("backup_sets", "*", "name"),
    ("backup_sets", "*", "host"),
    ("systems", "*", "name"),
]
IDENTIFIER_FIELDS = [
    ("defaults", "ssh", "user"),
    ("host_pairs", "*", "database", "user"),
    ("host_pairs", "*", "database", "replication_user"),
    ("host_pairs", "*", "vip_interface"),
    ("switches", "*", "username"),
    ("power", "ups", "*", "ups_name"),
    ("power", "ups", "*", "username"),
]
URL_AND_PATH_FIELDS: list[tuple[str | int, ...]] = [
    ("host_pairs", "*", "service_url"),
    ("backup_sets", 1, "paths", "*"),
]


@dataclass(frozen=True)
class Spot:
    """A scalar in an inventory file: its path as `dr` names it, where its text is."""

    shown: str
    line: int
    start: int
    end: int


@functools.cache
def composed(text: str) -> Node | None:
    return yaml.compose(text, Loader=yaml.SafeLoader)


def find(text: str, pattern: tuple[str | int, ...]) -> Spot | None:
    """The scalar at `pattern` in `text` (a YAML document), or None if it has none."""
    node = composed(text)
    shown = ""
    for step in pattern:
        index = 0 if step == "*" else step
        if isinstance(index, int) and isinstance(node, SequenceNode) and len(node.value) > index:
            node, shown = node.value[index], f"{shown}[{index}]"
        elif isinstance(node, MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
            shown = f"{shown}.{step}" if shown else step
        else:
            return None
    if not isinstance(node, ScalarNode):
        return None
    return Spot(shown, node.start_mark.line + 1, node.start_mark.index, node.end_mark.index)


def mutated(tmp_path: Path, source: Path, spot: Spot | list[Spot], value: str) -> Path:
    """A copy of `source` next to links to its key and secret files, with `value` (as a
    YAML double-quoted string, so any character can be written) at each spot."""
    text = source.read_text(encoding="utf-8")
    # From the end backwards, so that each spot's offsets still hold when it is replaced;
    # the value is written on one line, so no line number moves.
    for each in sorted(spot if isinstance(spot, list) else [spot], key=lambda s: -s.start):
        text = text[: each.start] + json.dumps(value) + text[each.end :]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    for sibling in source.parent.iterdir():
        if sibling.is_dir() and not (tmp_path / sibling.name).exists():
            (tmp_path / sibling.name).symlink_to(sibling)
    return path


def dr_inventory_check(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """`dr inventory check PATH` through the console entry point, in this process."""
    monkeypatch.setattr(sys, "argv", ["dr", "inventory", "check", str(path)])
    code = 0
    try:
        main.run()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


INVENTORIES = [PRODUCTION, DRILL, ENGINE_DRILL]


def all_spots(source: Path) -> list[Spot]:
    text = source.read_text(encoding="utf-8")
    found = [find(text, pattern) for pattern in NAME_FIELDS + IDENTIFIER_FIELDS]
    return [spot for spot in found if spot is not None]


def test_the_sweep_reaches_every_kind_of_field() -> None:
    found = {spot.shown for spot in all_spots(PRODUCTION)}
    assert len(found) == len(NAME_FIELDS + IDENTIFIER_FIELDS)
    assert {s.shown for s in all_spots(DRILL)} >= {"hosts[0].name", "switches[0].username"}
    assert len(all_spots(ENGINE_DRILL)) >= 4


@pytest.mark.parametrize("source", INVENTORIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_name_or_identifier_is_refused_at_its_line(
    source: Path,
    kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The value in every name and identifier field at once: one check reports each."""
    spots = all_spots(source)
    path = mutated(tmp_path, source, spots, HOSTILE[kind])
    code, output = dr_inventory_check(path, capsys, monkeypatch)
    assert code == EXIT_BAD_INPUT, output
    for spot in spots:
        assert f"{path}:{spot.line}: {spot.shown}:" in output, (spot, output)
    assert "Traceback" not in output
    # The value is shown escaped: no raw control character reaches the terminal.
    assert not any(c in output for c in "\x00\x1b\u200f\u202e")


@pytest.mark.parametrize("pattern", URL_AND_PATH_FIELDS, ids=lambda p: str(p[2]))
def test_urls_and_paths_with_control_characters_are_refused(
    pattern: tuple[str | int, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spot = find(PRODUCTION.read_text(encoding="utf-8"), pattern)
    assert spot is not None
    for kind in ("nul", "newline", "escape"):
        prefix = "http://10.77.0.10/" if pattern[-1] == "service_url" else "/srv/"
        value = prefix + HOSTILE[kind]
        path = mutated(tmp_path / kind, PRODUCTION, spot, value)
        code, output = dr_inventory_check(path, capsys, monkeypatch)
        assert code == EXIT_BAD_INPUT, (kind, output)
        assert f"{path}:{spot.line}: {spot.shown}:" in output, (kind, output)
        assert "Traceback" not in output


@pytest.mark.parametrize(
    "url", ["ftp://10.77.0.10/health", "http://10.77.0.10/a b", "http://x/'`id`'", "//x/health"]
)
def test_a_service_url_must_be_http_without_shell_quotes_or_spaces(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spot = find(PRODUCTION.read_text(encoding="utf-8"), URL_AND_PATH_FIELDS[0])
    assert spot is not None
    code, output = dr_inventory_check(mutated(tmp_path, PRODUCTION, spot, url), capsys, monkeypatch)
    assert code == EXIT_BAD_INPUT, output
    assert "http:// or https:// URL" in output


@pytest.mark.parametrize("kind", ["command-substitution", "newline", "leading-dash"])
def test_dr_in_a_process_of_its_own_refuses_a_hostile_name(kind: str, tmp_path: Path) -> None:
    """The same through `python -m orchestrator.cli.main`, as an operator runs it."""
    spot = find(PRODUCTION.read_text(encoding="utf-8"), ("hosts", "*", "name"))
    assert spot is not None
    path = mutated(tmp_path, PRODUCTION, spot, HOSTILE[kind])
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "inventory", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert f"{path}:{spot.line}: hosts[0].name: a name is 1 to 63 letters" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("source", [PRODUCTION, LAB, DRILL, ENGINE_DRILL], ids=lambda p: p.stem)
def test_the_shipped_inventories_still_load(source: Path) -> None:
    assert load_inventory(source).hosts


def test_free_text_may_hold_anything_and_is_not_a_name(tmp_path: Path) -> None:
    """Descriptions and carriers are text for people: accepted as written (they reach no
    shell: no command template has a placeholder for them)."""
    spot = find(PRODUCTION.read_text(encoding="utf-8"), ("hosts", "*", "description"))
    assert spot is not None
    path = mutated(tmp_path, PRODUCTION, spot, "$(id); `id` 'quoted' -x")
    assert load_inventory(path).hosts[0].description == "$(id); `id` 'quoted' -x"


def test_a_placeholder_inside_quotes_in_a_control_command_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spot = find(LAB.read_text(encoding="utf-8"), ("host_pairs", "*", "control", "db_status"))
    assert spot is not None
    path = mutated(tmp_path, LAB, spot, "sh -c 'lab-host {host} db-status'")
    code, output = dr_inventory_check(path, capsys, monkeypatch)
    assert code == EXIT_BAD_INPUT
    assert f"{path}:{spot.line}: host_pairs[0].control.db_status: {{host}} is written inside" in (
        output
    )


# ---- the commands the runbooks send ---------------------------------------------------

# Legal where it can be (a name may hold '.', '_' and '-'); the rest bypass validation
# (model_construct) to show that quoting alone would still hold.
LEGAL_NAME = "db-1.head_office"
SHELL_SENSITIVE = ["$(id)", "a;rm -rf /", "`id`", "-x", "a'b", 'a"b', "a b", "{port}"]


def host(name: str) -> Host:
    return Host.model_construct(name=name, address=ip_address("10.77.1.11"), site="dc")


@pytest.mark.parametrize("name", [LEGAL_NAME, *SHELL_SENSITIVE])
def test_the_power_shutdown_commands_quote_the_host_name(name: str) -> None:
    words = shlex.split(shutdown_command(DRILL_SHUTDOWN, host(name)))
    assert words == ["echo", "dr drill:", name, "would shut down now (UPS battery low)"]
    assert shlex.split(shutdown_command("touch /run/marks/{host}", host(name))) == [
        "touch",
        f"/run/marks/{name}",
    ]
    assert shutdown_command(PRODUCTION_SHUTDOWN, host(name)) == PRODUCTION_SHUTDOWN


def test_a_shutdown_command_with_the_placeholder_inside_quotes_is_refused() -> None:
    with pytest.raises(UserInputError, match=r"\{host\} is written inside quotes"):
        shutdown_command("echo '{host} goes down'", host(LEGAL_NAME))


@pytest.fixture(scope="module")
def lab_pair() -> Any:
    inventory = load_inventory(LAB)
    return inventory, inventory.host_pairs[0]


@pytest.mark.parametrize("name", [LEGAL_NAME, *SHELL_SENSITIVE])
def test_pair_control_commands_quote_the_host_and_the_upstream(lab_pair: Any, name: str) -> None:
    inventory, pair = lab_pair
    words = shlex.split(control(pair, "db_status", host(name)))
    assert words == ["/var/lib/dr-lab/bin/dr-lab-host", name, "db-status"]
    pair = pair.model_copy(deep=True)
    pair.database.replication_user = name  # past validation, as a bug or a future field might
    command = follow_command(pair, "db_rewind", host(name), inventory.host("dc-a"))
    upstream = str(pair.database.replication_addresses["dc-a"])
    assert shlex.split(command)[1:] == [name, "db-rewind", upstream, "5432", name]


@pytest.mark.parametrize("user", ["replicator", "repl_user.2", *SHELL_SENSITIVE])
def test_the_default_rewind_and_base_backup_quote_the_upstream(lab_pair: Any, user: str) -> None:
    inventory, pair = lab_pair
    pair = pair.model_copy(deep=True)
    pair.control.db_rewind = None
    pair.control.db_base_backup = None
    pair.database.replication_user = user
    upstream = Upstream("10.77.1.11", 5432, user)

    standby, primary = inventory.host("dc-b"), inventory.host("dc-a")
    rewind = shlex.split(follow_command(pair, "db_rewind", standby, primary))
    assert rewind[:4] == ["sudo", "-u", "postgres", f"{debian.PG_BIN}/pg_rewind"]
    source = next(w for w in rewind if w.startswith("--source-server="))
    assert source == f"--source-server={upstream.conninfo}"
    assert conninfo_words(source.removeprefix("--source-server="))["user"] == user

    outer = shlex.split(
        follow_command(pair, "db_base_backup", inventory.host("dc-b"), inventory.host("dc-a"))
    )
    assert outer[:5] == ["sudo", "-u", "postgres", "sh", "-c"] and len(outer) == 6
    inner = shlex.split(outer[5])  # what the second shell reads
    assert inner[inner.index("-U") + 1] == user
    assert inner[inner.index("-h") + 1] == "10.77.1.11"


def conninfo_words(conninfo: str) -> dict[str, str]:
    """libpq's reading of `key=value ...`: values in '...' with backslash escapes."""
    words: dict[str, str] = {}
    index = 0
    while index < len(conninfo):
        key_end = conninfo.index("=", index)
        key, index = conninfo[index:key_end].strip(), key_end + 1
        value = ""
        if conninfo[index] == "'":
            index += 1
            while conninfo[index] != "'":
                if conninfo[index] == "\\":
                    index += 1
                value += conninfo[index]
                index += 1
            index += 1
        else:
            while index < len(conninfo) and conninfo[index] != " ":
                value += conninfo[index]
                index += 1
        words[key] = value
        index += 1
    return words


@pytest.mark.parametrize("runbook", [line_failover, switch_failover], ids=lambda m: m.__name__)
def test_the_branch_probe_quotes_the_service_url(runbook: Any) -> None:
    url = "http://10.77.0.10:8080/health?a=1&b=$(id);c='x'"
    words = shlex.split(fill(runbook.PARAMS["probe_command"].default, url=url))
    assert words[:2] == ["python3", "-c"]
    assert words[-1] == url


def test_a_fencing_command_gets_the_host_and_address_as_single_words() -> None:
    template = "/usr/local/bin/ipmi-off --name {host} --ip {address}"
    words = shlex.split(fill(template, host="a b;$(id)", address="10.77.1.11"))
    assert words == ["/usr/local/bin/ipmi-off", "--name", "a b;$(id)", "--ip", "10.77.1.11"]


def test_fill_does_not_fill_a_placeholder_within_a_value() -> None:
    """One pass: a value that looks like a placeholder stays text."""
    command = fill("tool {host} {port}", host="{port}", port=5432)
    assert shlex.split(command) == ["tool", "{port}", "5432"]
