"""Reading an old primary's own history before it is rewound.

The stopped old primary is started as a read-only copy of itself: in standby mode
(`standby.signal`) with no upstream, no restore command and its own timeline as the
target, it replays the WAL in its own `pg_wal` (every commit it acknowledged) and then
waits, read-only, for WAL that never comes. Nothing can write to it, it archives nothing
(pgBackRest would otherwise meet a second history under the old timeline) and it cannot
follow the new primary's timeline from the archive. Stopped again it is "shut down in
recovery", a state pg_rewind accepts; and should it be started by mistake afterwards,
the signal file keeps it a standby, never a second primary.
"""

from __future__ import annotations

# Command-line settings override postgresql.conf and postgresql.auto.conf (where an
# earlier rewind wrote primary_conninfo). An empty value switches a setting off.
READ_ONLY_SETTINGS: tuple[tuple[str, str], ...] = (
    ("primary_conninfo", ""),
    ("restore_command", ""),
    ("recovery_target_timeline", "current"),
    ("archive_mode", "off"),
    ("hot_standby", "on"),
)
# Replay of the local WAL is over when its position stands still this long.
SETTLED_FOR_S = 2.0


def read_only_options() -> str:
    """The postgres options (for `pg_ctl -o`): each a word without shell specials."""
    return " ".join(f"-c {name}={value}" for name, value in READ_ONLY_SETTINGS)
