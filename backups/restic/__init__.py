"""The restic command layer: one command builder and one output parser per subcommand.

Nothing here runs a process; `backups.execute` does. Builders return argument lists
(never secrets: those travel in the environment), parsers take restic's output.
"""
