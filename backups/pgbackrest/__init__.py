"""The pgBackRest command layer: one builder per subcommand, and parsers of its output.

Nothing here runs a process (`backups.pitr.session` does, through `backups.execute`) or
reads the inventory. Builders return a subcommand's arguments; the session puts the
program, `--config` and `--stanza` in front. Secrets are never among them: pgBackRest
reads its cipher passes and S3 keys from PGBACKREST_* variables (`config.secret_names`).
Output samples of real pgBackRest 2.45 runs are in tests/data/pgbackrest-2.45/.
"""
