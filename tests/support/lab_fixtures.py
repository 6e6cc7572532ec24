"""The drill lab for integration tests: built once per session, always taken down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from orchestrator.inventory import Inventory, load_inventory

if TYPE_CHECKING:
    from lab.lab import Lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces); run them as root")
    from lab.lab import Lab

    lab = Lab()
    try:
        lab.up(branches=2)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def lab_inventory(lab: Lab) -> Inventory:
    return load_inventory(lab.state.inventory_file)
