"""Identities for tests: the test process's own OS account mapped to one contact.

Every `dr` a test starts runs under the same account, so only one contact can be "at
the terminal"; the others prove themselves with one-time codes, as people who are not
at a terminal do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.identity import terminal_account
from orchestrator.identity.one_time import issue
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal


def account() -> str:
    return terminal_account()[0]


def with_login(doc: dict[str, Any], contact: str) -> dict[str, Any]:
    """`doc` (an inventory) with `contact`'s login set to this process's account."""
    for entry in doc["contacts"]:
        if entry["name"] == contact:
            entry["login"] = account()
    return doc


def mapped_copy(source: Path, directory: Path, contact: str, **extra: Any) -> Path:
    """A copy of inventory `source` in which `contact` is this process's account."""
    doc = with_login(yaml.safe_load(source.read_text()), contact)
    doc.update(extra)
    path = directory / f"mapped-{source.stem}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def code_for(db_url: str, run_id: str, step: str, contact: str) -> str:
    """A one-time code for `contact`, as the engine would have sent it to them."""
    journal = Journal(db_url)
    try:
        inventory = load_inventory(Path(journal.get_run(run_id).inventory_path))
        return issue(journal, run_id, step, inventory.contact(contact))
    finally:
        journal.close()
