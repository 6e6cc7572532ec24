"""Shared fixtures: each support module is a plugin owning one kind of real server."""

pytest_plugins = [
    "tests.support.sshd_fixtures",
    "tests.support.postgres_fixtures",
]
