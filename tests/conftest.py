"""Shared fixtures: each support module is a plugin owning one kind of real server."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.sshd_fixtures",
    "tests.support.postgres_fixtures",
    "tests.support.lab_fixtures",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exclusive_lab: builds and removes its own lab namespaces, so it must run before "
        "the session's shared lab exists",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Lab namespaces have fixed names: tests that make their own go first, while no
    # shared lab is up, and they take theirs down before the shared one is built.
    items.sort(key=lambda item: item.get_closest_marker("exclusive_lab") is None)
