"""Inventory loading: good files load; every bad file is reported as FILE:LINE: field: message.

The bad inventories under tests/data/inventories/ mark each line where a problem is expected
with a comment `# expect: FIELD`; the tests compare those marks with what the loader reports,
so a file and its expectations cannot drift apart.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import EXIT_BAD_INPUT, InventoryError, UserInputError
from orchestrator.inventory import (
    CommandFence,
    Inventory,
    ManualFence,
    SecretRef,
    SshFence,
    UpsOutletFence,
    load_inventory,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "inventories"
EXAMPLE = REPO / "inventory" / "example-production.yaml"
DRILL = DATA / "drill-small.yaml"
DR = Path(sys.executable).parent / "dr"

CLEARTEXT = ("Hunter2-Zq9!", "8675309")  # the passwords written in bad-cleartext-password.yaml


def expected_marks(path: Path) -> set[tuple[int, str]]:
    marks = set()
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.search(r"# expect:(.*)$", text)
        if match:
            marks.add((number, match.group(1).strip()))
    return marks


def problems_of(path: Path | str) -> list:
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    return err.value.problems


def only_problem(path: Path | str):
    problems = problems_of(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# -- good inventories -------------------------------------------------------------------


def test_example_production_inventory_loads_with_every_section():
    inv = load_inventory(EXAMPLE)
    assert inv.environment == "production"
    assert inv.timezone == "Asia/Shanghai"
    assert [len(inv.sites), len(inv.hosts), len(inv.host_pairs)] == [5, 5, 1]
    assert [len(inv.lines), len(inv.switches), len(inv.contacts)] == [4, 6, 9]
    credit = inv.credit_reporting
    assert credit is not None and credit.host == "report-gw"
    assert (credit.roles.generator, credit.roles.submitter) == ("Sun Li (孙丽)", "Zhou Jie (周杰)")
    assert [len(inv.power.ups), len(inv.power.generators), len(inv.backup_sets)] == [2, 1, 3]
    assert set(inv.escalation) == {"blue", "yellow", "orange", "red"}
    assert inv.power.ups[0].low_runtime_seconds == 600
    assert inv.power.generators[0].stable_seconds == 180
    assert inv.target_for("credit-report").rpo == 0
    assert inv.backup_sets[0].rpo == 86_400


def test_provenance_is_the_absolute_file_and_its_sha256():
    inv = load_inventory(EXAMPLE)
    assert inv.source_path == EXAMPLE
    assert inv.digest == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert "digest" not in inv.model_dump() and "source_path" not in inv.model_dump()


def test_hosts_inherit_missing_ssh_settings_from_defaults():
    inv = load_inventory(EXAMPLE)
    base = EXAMPLE.parent
    credit_a, backup = inv.host("credit-a"), inv.host("backup-1")
    assert credit_a.ssh.user == "dr-ops"
    assert credit_a.ssh.key_file == base / "keys" / "dr-ops_ed25519"
    assert backup.ssh.user == "dr-backup"  # its own
    assert backup.ssh.key_file == base / "keys" / "dr-ops_ed25519"  # inherited
    assert credit_a.ssh.known_hosts == base / "known_hosts"  # inventory-wide file


def test_drill_inventory_keeps_host_overrides_and_reads_typed_values():
    inv = load_inventory(DRILL)
    dc_a, dc_b = inv.host("dc-a"), inv.host("dc-b")
    assert inv.environment == "drill"
    assert dc_a.address == ipaddress.ip_address("10.99.0.11")
    assert (dc_a.ssh.user, dc_a.ssh.port, dc_a.ssh.host_key_policy) == ("dr", 22, "accept-new")
    assert dc_a.ssh.known_hosts == DATA / "known_hosts"
    assert (dc_b.ssh.user, dc_b.ssh.port) == ("dr", 2222)
    assert dc_b.ssh.known_hosts == Path("/etc/ssh/ssh_known_hosts")
    assert inv.switch("sw-funds").ports == {"1": "b1-funds", "2": "branch-1-pc"}
    assert inv.lines[0].port == "1"
    assert inv.generator("lab-genset").mains_wait_seconds == 90
    pair = inv.pair("credit")
    assert [type(f) for f in pair.fencing] == [SshFence, UpsOutletFence, CommandFence, ManualFence]
    assert str(pair.vip) == "10.99.0.10/24"
    assert pair.database is not None and pair.database.port == 5432


def test_relative_paths_follow_the_inventory_file_not_the_working_directory(monkeypatch):
    monkeypatch.chdir(DATA.parent)
    inv = load_inventory("inventories/drill-small.yaml")
    assert inv.host("dc-a").ssh.key_file == DATA / "keys" / "lab_ed25519"
    assert inv.source_path == DATA / "drill-small.yaml"


def test_inventory_built_in_code_has_no_source_but_a_stable_digest():
    data = {"name": "x", "environment": "drill", "hosts": []}
    first, second = Inventory.model_validate(data), Inventory.model_validate(data)
    assert first.source_path is None
    assert first.digest == second.digest and len(first.digest) == 64


def test_secret_refs_are_listed_resolved_against_the_inventory_directory():
    inv = load_inventory(DRILL)
    refs = dict(inv.secret_refs())
    assert refs["host_pairs[0].database.password"] == SecretRef("env", "LAB_PG_PASSWORD")
    assert refs["switches[2].password"] == SecretRef("file", str(DATA / "secrets" / "sw.pass"))
    assert refs["backup_sets[0].password"].kind == "file"


def test_yaml_merge_keys_are_honoured_and_not_taken_for_duplicates(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: lab\nenvironment: drill\nsites: [{name: dc, kind: datacentre}]\n"
        "hosts:\n"
        "  - &base {name: dc-a, address: 10.0.0.1, site: dc, roles: [db]}\n"
        "  - <<: *base\n    name: dc-b\n    address: 10.0.0.2\n"
    )
    inv = load_inventory(path)
    assert inv.host("dc-b").roles == ["db"]
    assert str(inv.host("dc-b").address) == "10.0.0.2"


# -- lookups and host selectors ---------------------------------------------------------


@pytest.fixture(scope="module")
def drill():
    return load_inventory(DRILL)


def names(hosts):
    return [h.name for h in hosts]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("all", ["dc-a", "dc-b", "backup-1", "branch-1-pc"]),
        ("dc-b", ["dc-b"]),
        ("role:db", ["dc-a", "dc-b"]),
        ("site:branch-1", ["branch-1-pc"]),
        ("tag:pg", ["dc-a", "dc-b"]),
        ("pair:credit.primary", ["dc-a"]),
        ("pair:credit.standby", ["dc-b"]),
        ("pair:credit", ["dc-a", "dc-b"]),
        ("backup-1, dc-a", ["dc-a", "backup-1"]),  # inventory order
        ("role:db,dc-a,tag:pg", ["dc-a", "dc-b"]),  # no duplicates
    ],
)
def test_select_hosts(drill, selector, expected):
    assert names(drill.select_hosts(selector)) == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("dc-c", "no host named 'dc-c' in the inventory; did you mean"),
        ("role:web", "host selector 'role:web' matches no host"),
        ("tag:nope", "host selector 'tag:nope' matches no host"),
        ("site:dcc", "no site named 'dcc' in the inventory; did you mean 'dc'?"),
        ("site:dc,site:backup,site:nowhere", "no site named 'nowhere'"),
        (
            "pair:credt.primary",
            "no host pair named 'credt' in the inventory; did you mean 'credit'?",
        ),
        ("group:db", "unknown host selector 'group:db'"),
        ("role:", "needs a name after the colon"),
        ("dc-a,,dc-b", "empty host selector"),
        ("", "empty host selector"),
    ],
)
def test_select_hosts_refuses_what_matches_nothing(drill, selector, message):
    with pytest.raises(UserInputError) as err:
        drill.select_hosts(selector)
    assert message in err.value.message


def test_lookups_name_the_missing_item_and_suggest(drill):
    with pytest.raises(UserInputError, match=r"no host named 'dc-x'.*did you mean"):
        drill.host("dc-x")
    with pytest.raises(UserInputError, match="no switch named 'sw'"):
        drill.switch("sw")
    with pytest.raises(UserInputError, match="no UPS named 'ups'"):
        drill.ups("ups")
    assert drill.ups("lab-ups").protects == ["dc-a", "dc-b"]
    assert drill.contact("ops").language == "zh"
    assert drill.generator("lab-genset").nominal_frequency == 50
    assert drill.target_for("credit-reporting").rto == 900
    assert drill.target_for("no-such-system") is None


# -- bad inventories --------------------------------------------------------------------

BAD_FILES = sorted(DATA.glob("bad-*.yaml"))


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_each_problem_is_reported_at_its_line_and_field(path):
    problems = problems_of(path)
    assert {(p.line, p.field) for p in problems} == expected_marks(path)
    assert all(p.file == str(path) for p in problems)


def test_unknown_key_suggests_the_close_match_and_lists_allowed_keys():
    problem = only_problem(DATA / "bad-unknown-key.yaml")
    assert str(problem) == (
        f"{DATA / 'bad-unknown-key.yaml'}:11: hosts[0].ssh.prot: unknown key 'prot'; "
        "did you mean 'port'? allowed keys: user, port, key_file, known_hosts, password, "
        "host_key_policy, connect_timeout"
    )


def test_wrong_types_say_what_was_expected():
    messages = [p.message for p in problems_of(DATA / "bad-wrong-type.yaml")]
    assert messages == [
        "expected a list (lines starting with '- '), got 'db'",
        "expected a whole number, got 'twenty-two'",
    ]


def test_duplicate_host_name_points_at_the_second_and_names_the_first():
    problem = only_problem(DATA / "bad-duplicate-host.yaml")
    assert problem.message == (
        "duplicate host name 'dc-a' (first at line 6); each host needs its own name"
    )


def test_pair_naming_a_missing_host():
    problem = only_problem(DATA / "bad-pair-missing-host.yaml")
    assert problem.message.startswith("no host named 'dc-c'; did you mean 'dc-b'")


def test_line_naming_a_missing_switch():
    problem = only_problem(DATA / "bad-line-missing-switch.yaml")
    assert problem.message == "no switch named 'sw-fund'; did you mean 'sw-funds'?"


def test_standby_switch_must_have_every_port_and_domains_name_real_ports(tmp_path):
    path = tmp_path / "spare.yaml"
    path.write_text(
        "name: lab\nenvironment: drill\nsites: [{name: core, kind: datacentre}]\n"
        "switches:\n"
        "  - {name: sw-a, site: core, network: funds, device_type: linux, address: 10.9.0.1,\n"
        "     username: dr, standby: sw-b, ports: {1: branch, 2: line},\n"
        "     port_domains: {1: '10', 3: '10'}}\n"
        "  - {name: sw-b, site: core, network: funds, device_type: linux, address: 10.9.0.2,\n"
        "     username: dr, ports: {1: spare}}\n"
    )
    problems = {p.field: p.message for p in problems_of(path)}
    assert problems == {
        "switches[0].standby": "standby switch 'sw-b' lacks port(s) 2: each cable moves to "
        "the standby's port of the same name, so list them under its ports",
        "switches[0].port_domains[3]": "port 3 has a domain but is not one of this switch's "
        "ports; list it under ports",
    }


def test_bad_ip_address():
    problem = only_problem(DATA / "bad-address.yaml")
    assert problem.message.startswith("not an IP address, got '10.99.0.300'")


def test_cleartext_passwords_are_refused_and_never_echoed():
    path = DATA / "bad-cleartext-password.yaml"
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    messages = [p.message for p in err.value.problems]
    assert (
        messages[:2]
        == ["a secret must be a reference (env:NAME or file:PATH), not the secret itself"] * 2
    )
    everything = str(err.value) + repr(err.value.problems)
    for secret in CLEARTEXT:
        assert secret not in everything


def test_yaml_syntax_error_gives_the_line_of_the_fault():
    problem = only_problem(DATA / "bad-yaml-syntax.yaml")
    assert problem.line == 6
    assert problem.message.startswith("YAML syntax error:")
    assert "indentation" in problem.message


def test_duplicate_yaml_key_is_an_error_although_yaml_allows_it():
    problem = only_problem(DATA / "bad-duplicate-yaml-key.yaml")
    assert problem.message.startswith("duplicate key 'address' (first at line 7)")


def test_several_problems_in_one_file_are_all_reported_in_line_order():
    path = DATA / "bad-many.yaml"
    problems = problems_of(path)
    assert len(problems) == len(expected_marks(path)) == 17
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    by_field = {p.field: p.message for p in problems}
    assert by_field["sites[0].kind"].endswith("did you mean 'datacentre'?")
    assert by_field["hosts[0].site"] == "required key 'site' is missing; add it"
    assert by_field["escalation.blue[1]"] == "no contact named 'opz'; did you mean 'ops'?"
    assert "needs 'method:'" in by_field["host_pairs[0].fencing[0]"]
    assert "prefix length" in by_field["host_pairs[0].vip"]


def test_empty_file():
    problem = only_problem(DATA / "empty.yaml")
    assert problem.line is None
    assert problem.message.startswith("the file is empty")


def test_missing_file():
    problem = only_problem(DATA / "no-such-file.yaml")
    assert str(problem) == f"{DATA / 'no-such-file.yaml'}: no such file; check the path"


def test_directory_instead_of_file():
    assert "is a directory" in only_problem(DATA).message


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("# a list\n- name: lab\n")
    problem = only_problem(path)
    assert problem.line == 2
    assert "top level must be a mapping" in problem.message


def test_non_utf8_file_reports_the_line(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("name: lab\nenvironment: drill\ndescription: 城关\n".encode("gbk"))
    problem = only_problem(path)
    assert (problem.line, problem.message.split(";")[0]) == (3, "not UTF-8 text")


def test_unknown_yaml_tag_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "tag.yaml"
    path.write_text("name: lab\nenvironment: !!python/object:os.system drill\n")
    problem = only_problem(path)
    assert (problem.line, problem.field) == (2, "environment")


@pytest.mark.parametrize(
    "body",
    [
        "hosts: 5",
        "hosts: [5, null, x, [1]]",
        "sites: [{name: [1], kind: branch}]\nhosts: [{name: a, address: 10.0.0.1, site: [1]}]",
        "escalation: [a]",
        "escalation: {blue: 3, red: [{a: 1}]}",
        "power: 3",
        "power: {ups: [{name: u, ups_name: u, protects: 3}]}",
        "host_pairs: [{fencing: 3}, {fencing: [3, {method: ups-outlet, ups: [1]}]}]",
        "lines: [{name: {a: 1}, site: {b: 2}, switch: [3], network: [4]}]",
        "switches: [{name: s, standby: s, site: x}]",
        "backup_sets: [{databases: [5, {host_pair: [1]}]}]",
        "defaults: {ssh: {prot: 1}}\nhosts: [{name: a, address: 10.0.0.1, site: s}]",
        "? [a, b]\n: c",
        "a: &x [*x]",
        "targets: [{system: a, category: network, rto: 1h, rpo: 0}, {system: a}]",
    ],
)
def test_odd_documents_raise_only_inventory_error(tmp_path, body):
    path = tmp_path / "odd.yaml"
    path.write_text(f"name: lab\nenvironment: drill\n{body}\n")
    assert problems_of(path)


# -- the `dr inventory` command ---------------------------------------------------------


def run_dr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so rich does not wrap a long FILE:LINE: field: message line.
    full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
    return subprocess.run(
        [str(DR), "inventory", *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_cli_check_good_inventory_exits_0_with_a_summary():
    result = run_dr("check", str(DRILL))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{DRILL}: ok — 4 hosts, 1 pair, 3 sites")
    assert result.stdout.rstrip().endswith("(environment: drill)")


def test_cli_check_bad_inventory_exits_2_with_every_line():
    path = DATA / "bad-many.yaml"
    result = run_dr("check", str(path))
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    for line, field in expected_marks(path):
        assert f"{path}:{line}: {field}: " in result.stderr
    assert "17 problems found" in result.stderr


def test_cli_check_never_prints_a_cleartext_password():
    result = run_dr("check", str(DATA / "bad-cleartext-password.yaml"))
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    for secret in CLEARTEXT:
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["no-such-file.yaml", "empty.yaml", "bad-yaml-syntax.yaml"])
def test_cli_check_unusable_files_exit_2_without_traceback(name):
    result = run_dr("check", str(DATA / name))
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert str(DATA / name) in result.stderr


def test_cli_check_warns_about_a_secret_file_others_can_read(tmp_path):
    secret = tmp_path / "restic.pass"
    secret.write_text("s3cret-restic\n")
    secret.chmod(0o644)
    path = tmp_path / "inv.yaml"
    path.write_text(
        "name: x\nenvironment: drill\nsites: [{name: dc, kind: datacentre}]\n"
        "hosts: [{name: a, address: 10.0.0.1, site: dc}]\n"
        "backup_sets: [{name: b, host: a, repository: /r, password: file:restic.pass, "
        "paths: [/srv]}]\n"
    )
    result = run_dr("check", str(path))
    assert result.returncode == 0, result.stderr
    assert f"chmod 600 {secret}" in result.stderr
    assert "s3cret-restic" not in result.stdout + result.stderr


def test_cli_show_json_is_the_validated_model_with_references_unresolved():
    result = run_dr("show", "--json", str(DRILL), env={"LAB_PG_PASSWORD": "pg-s3cret-value"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["host_pairs"][0]["database"]["password"] == "env:LAB_PG_PASSWORD"
    assert data["backup_sets"][0]["password"] == f"file:{DATA / 'secrets' / 'restic.pass'}"
    assert data["hosts"][1]["ssh"]["port"] == 2222
    assert data["power"]["generators"][0]["mains_wait_seconds"] == 90
    assert "pg-s3cret-value" not in result.stdout


def test_cli_show_table_names_every_section():
    result = run_dr("show", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    for title in ("Sites", "Hosts", "Host pairs", "Lines", "Switches", "UPS", "Generators"):
        assert title in result.stdout
    assert "Backup sets" in result.stdout and "RTO/RPO targets" in result.stdout
