"""`dr` imports a command's module only when that command runs (orchestrator/cli/lazy_group.py).

What `dr --help` and the completion of a command's name say comes from the one-line help
kept in orchestrator/cli/main.py: these tests hold it equal to what the commands themselves
say once imported, and check in a fresh interpreter what each start imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from orchestrator.cli import main
from tests.support.started_modules import HEAVY, start_dr

OURS = [command.name for command in main.DrGroup.lazy_commands]


def _root() -> tuple[TyperGroup, typer.Context]:
    group = typer.main.get_command(main.app)
    assert isinstance(group, main.DrGroup)
    return group, group.make_context("dr", ["--help"], resilient_parsing=True)


def _listing(group: TyperGroup, ctx: typer.Context, capsys: pytest.CaptureFixture[str]):
    """What `dr --help` prints, and what completing `dr <Tab>` offers (name, help)."""
    group.format_help(ctx, ctx.make_formatter())
    shown = capsys.readouterr().out
    completions = [(item.value, item.help) for item in group.shell_complete(ctx, "")]
    return shown, completions


def test_help_and_completion_of_names_say_what_each_command_says_once_loaded(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    group, ctx = _root()
    listed = _listing(group, ctx, capsys)
    assert not set(group.commands) & set(OURS), "listing imported a command of ours"
    assert [name for name, _ in listed[1] if name in OURS] == OURS
    for name in group.list_commands(ctx):
        group.get_command(ctx, name)  # outside a listing: imported, built by typer
    assert set(OURS) <= set(group.commands)
    assert _listing(group, ctx, capsys) == listed


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], [], ["backup", "run", "--help"], ["bakup"]]
)
def test_starts_that_reach_no_device_import_no_device_library_nor_the_engine(args, tmp_path):
    started = start_dr(args, tmp_path)
    assert started.modules, started.stderr
    assert started.loaded(*HEAVY, "sqlalchemy", "orchestrator.engine.engine") == []


def test_version_and_help_import_no_command_and_a_command_only_its_own(tmp_path):
    version = start_dr(["--version"], tmp_path)
    assert (version.returncode, version.command_modules()) == (0, [])
    assert version.stdout.startswith("dr (dr-orchestrator) ")
    listing = start_dr(["--help"], tmp_path)
    assert (listing.returncode, listing.command_modules()) == (0, [])
    for name in OURS:
        assert f"│ {name} " in listing.stdout
    backup = start_dr(["backup", "run", "--help"], tmp_path)
    assert backup.returncode == 0, backup.stderr
    assert "--inventory" in backup.stdout
    assert backup.command_modules() == [
        "orchestrator.cli.backup_cmd",
        "orchestrator.cli.find_clean_cmd",  # `dr backup find-clean`
        "orchestrator.cli.rewind_cmd",  # `dr backup rewind`
    ]


def test_a_mistyped_command_is_a_usage_error_that_suggests_the_name(tmp_path):
    started = start_dr(["bakup", "run"], tmp_path)
    assert started.returncode == 2
    assert "No such command 'bakup'. Did you mean 'backup'?" in started.stderr
    assert started.command_modules() == []


def _broken_plugin(tmp_path: Path) -> dict[str, str]:
    """An installed distribution whose `dr.commands` entry point names a missing module."""
    site = tmp_path / "site"
    dist = site / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[dr.commands]\nbroken = no_such_module_here:app\n")
    return {"PYTHONPATH": str(site)}


def test_a_plugin_that_cannot_load_is_one_error_message_and_help_still_lists_it(tmp_path):
    env = _broken_plugin(tmp_path)
    started = start_dr(["broken", "anything"], tmp_path, env)
    assert started.returncode == 1
    message = "`dr broken` is installed (no_such_module_here:app) but cannot load"
    assert started.stderr.count(message) == 1
    assert started.stderr.startswith("error: ")
    assert "Traceback" not in started.stderr
    listing = start_dr(["--help"], tmp_path, env)
    assert listing.returncode == 0, listing.stderr
    assert "│ broken " in listing.stdout
    assert "│ backup " in listing.stdout
