"""Backup sets of kind `postgres-pitr`: the credit database archived by pgBackRest.

`settings` turns the inventory's set into pgBackRest's configuration and the secrets'
variables; `session` runs pgBackRest (as PostgreSQL's account, through the one process
runner); the actions `init`, `run`, `listing`, `check` and `restore` are what `dr backup
init|run|list|check` do for this kind, and what a restore runbook builds on.
"""
