"""Shared fixtures: each support module is a plugin owning one kind of real server."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.sshd_fixtures",
    "tests.support.postgres_fixtures",
    "tests.support.lab_fixtures",
    "tests.support.notify_receivers",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exclusive_lab: builds and removes its own lab namespaces, so it must run before "
        "the session's shared lab exists",
    )
    config.addinivalue_line(
        "markers",
        "lab: uses the machine's one drill lab (set by conftest from the fixtures used)",
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that needs the machine's one drill lab is marked `lab`, so that
    # `make test` can run the others beside them (scripts/run-tests.sh).
    for item in items:
        if item.get_closest_marker("exclusive_lab") or "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)
    # Lab namespaces have fixed names: tests that make their own go first, while no
    # shared lab is up, and they take theirs down before the shared one is built.
    items.sort(key=lambda item: item.get_closest_marker("exclusive_lab") is None)
