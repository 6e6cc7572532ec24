"""A typer group whose commands are imported only when one of them runs.

Each command group pulls in what it works with (the engine brings paramiko and netmiko,
the journal SQLAlchemy, the scheduler APScheduler): a `dr` that imported all of them would
pay for every one at each start, `dr --version` and every Tab included, and
`dr backup run` would start restic later (bench/backup_vs_restic.py counts it). So the
group knows each command's name, its one-line help and where it lives, and imports the
module only when the command is invoked or its own help is asked for. `dr --help` and the
completion of a command's name are written from the one-line help alone.

Click's documentation calls this the lazy group; typer turns the app into its own click
group (typer.core.TyperGroup), so this is a TyperGroup that typer builds through
`typer.Typer(cls=...)`, and each command is built by typer itself, exactly as
`add_typer`/`command` would have built it on the root app.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any, ClassVar, cast

import typer
from typer.core import TyperCommand, TyperGroup

from orchestrator.errors import PluginUnavailable

if TYPE_CHECKING:
    # The click typer runs on: its own copy in the typer installed here (0.29), click
    # itself in typer 0.15, the lowest allowed. Annotations only: nothing at run time
    # depends on which.
    from typer import _click as click
    from typer._click.shell_completion import CompletionItem


def _click_usage_error() -> type[click.exceptions.UsageError]:
    """click's UsageError, whichever click typer runs on: BadParameter's base in each."""
    base = typer.BadParameter.__base__
    assert base is not None and issubclass(base, Exception)
    return cast("type[click.exceptions.UsageError]", base)


_UsageError = _click_usage_error()


@dataclass(frozen=True)
class LazyCommand:
    """A command of `dr`: its name, what `dr --help` says of it, and where it is defined.

    `target` is "module:attribute", a typer.Typer (a command group, as `add_typer` adds
    it) or a function (a lone command, as `@app.command` adds it). `help` is the first
    paragraph of the command's own help on one line (tests/unit/test_cli_lazy.py holds the
    two together); None for a plugin's command, whose help only its module knows.
    """

    name: str
    target: str
    help: str | None
    plugin: bool = False


class LazyTyperGroup(TyperGroup):
    """The root group: the commands in `lazy_commands` and in the `plugin_entry_points`
    entry-point group, each imported on first use."""

    lazy_commands: ClassVar[tuple[LazyCommand, ...]] = ()
    plugin_entry_points: ClassVar[str | None] = None

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._builtin = {command.name: command for command in self.lazy_commands}
        self._plugins: dict[str, LazyCommand] | None = None
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [*self._builtin, *self._plugin_commands(), *super().list_commands(ctx)]
        return list(dict.fromkeys(names))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        loaded = self.commands.get(cmd_name)
        if loaded is not None:
            return loaded
        lazy = self._builtin.get(cmd_name) or self._plugin_commands().get(cmd_name)
        if lazy is None:
            return None
        if self._listing and lazy.help is not None:
            # Help and completion list commands by name and one-line help only.
            return TyperCommand(name=lazy.name, help=lazy.help)
        try:
            command = self._build(lazy)
        except PluginUnavailable as err:
            if not self._listing:
                raise
            # A plugin that cannot load does not stop `dr --help`: it is listed with why.
            return TyperCommand(name=lazy.name, help=err.message)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        with self._listing_only():
            return super().shell_complete(ctx, incomplete)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # TyperGroup suggests from the commands already built (none, here): suggest from
        # every name instead, so `dr bakup` still asks "Did you mean 'backup'?".
        try:
            return super().resolve_command(ctx, args)
        except _UsageError as err:
            message = err.message
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            # Only where this typer suggests at all (typer 0.15, the lowest we allow, has
            # no suggest_commands and never suggests).
            suggests = getattr(self, "suggest_commands", False)
            if suggests and matches and "Did you mean" not in message:
                suggestions = ", ".join(f"{match!r}" for match in matches)
                err.message = f"{message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def _plugin_commands(self) -> dict[str, LazyCommand]:
        """Other packages' command groups (the drill lab's `dr lab`), read from the
        installed entry points the first time a name is not one of ours."""
        if self._plugins is None:
            self._plugins = {}
            if self.plugin_entry_points is not None:
                from importlib.metadata import entry_points

                for entry in entry_points(group=self.plugin_entry_points):
                    self._plugins[entry.name] = LazyCommand(entry.name, entry.value, None, True)
        return self._plugins

    def _build(self, lazy: LazyCommand) -> click.Command:
        """Import the command's module and let typer build its click command."""
        module_name, _, attribute = lazy.target.partition(":")
        # A module's imports make objects that live as long as the process: without
        # collections while they load, and frozen out of every later one (and the one at
        # exit), `dr backup run` starts restic sooner (bench/backup_vs_restic.py).
        collecting = gc.isenabled()
        gc.disable()
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except ImportError as err:
            if lazy.plugin:
                raise PluginUnavailable(lazy.name, lazy.target, err) from err
            raise
        finally:
            gc.freeze()
            if collecting:
                gc.enable()
        holder = typer.Typer(rich_markup_mode=self.rich_markup_mode)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=lazy.name)
        else:
            holder.command(lazy.name)(target)
        return typer.main.get_group(holder).commands[lazy.name]
