"""The credit checks on an inventory's own message directories: what the CLI and the
recovery reports call (reads the files, then reconciles or computes the aftermath)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.credit.aftermath import Aftermath, aftermath, records_from_lost_transactions
from orchestrator.credit.model import Batch
from orchestrator.credit.reconcile import Reconciliation, reconcile
from orchestrator.credit.sources import load_batches, read_message_files
from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory
from orchestrator.inventory.credit_reporting import CreditReporting


def credit_settings(inventory: Inventory) -> CreditReporting:
    if inventory.credit_reporting is None:
        where = inventory.source_path or inventory.name
        raise UserInputError(
            f"{where}: no credit_reporting: section; add one naming the message directories "
            "and the two roles (see README, 'Report messages')"
        )
    return inventory.credit_reporting


def inventory_batches(inventory: Inventory) -> tuple[list[Batch], dict[str, str]]:
    """Every batch in the inventory's message directories, and where they were read."""
    settings = credit_settings(inventory)
    files = read_message_files(settings, inventory)
    return load_batches(files, settings.format), files.where


def reconcile_inventory(inventory: Inventory, now: datetime | None = None) -> Reconciliation:
    settings = credit_settings(inventory)
    batches, where = inventory_batches(inventory)
    moment = now or datetime.now(UTC)
    return reconcile(
        batches,
        now=moment,
        feedback_within=timedelta(seconds=settings.feedback_within),
        roles=settings.roles,
        source=where,
        timezone=inventory.timezone,
    )


def aftermath_for_inventory(
    inventory: Inventory,
    lost_transactions: Iterable[Mapping[str, Any]],
    changed_rows: Iterable[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> Aftermath:
    """The re-generation and re-submission lists after a recovery, from the lost-
    transactions list (rows with kind or table, key, at, branch, amount) and the rows
    the recovery changed (same shape), against the inventory's message directories.
    A journaled lost-transactions record splits into the two with
    `aftermath.split_lost_and_changed`."""
    settings = credit_settings(inventory)
    lost = records_from_lost_transactions(lost_transactions)
    changed = records_from_lost_transactions(changed_rows)
    batches, where = inventory_batches(inventory)
    return aftermath(
        batches,
        lost,
        changed,
        now=now or datetime.now(UTC),
        feedback_within=timedelta(seconds=settings.feedback_within),
        source=where,
        timezone=inventory.timezone,
    )
