"""Write the journal's head to every place the inventory names, and journal each outcome.

Called at the end of every run and by the scheduler's anchor job. Nothing here raises
into its caller: a place that fails is journaled (`journal.anchor_failed`) and returned
flagged, so a recovery run that otherwise succeeded still succeeds, with the failed
anchor shown beside it; a place that worked is journaled as `journal.anchored`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.anchors.places import write_notice, write_s3, write_ssh_file
from orchestrator.anchors.record import Anchor, make_anchor, record_of
from orchestrator.errors import DrError

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.inventory.journal_settings import AnchorPlace
    from orchestrator.journal import Journal
    from orchestrator.transports.ssh import SshTransport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchorResult:
    place: str  # "s3", "ssh_file" or "notify"
    ok: bool
    where: str
    seq: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def anchor_journal(
    journal: Journal,
    inventory: Inventory,
    *,
    ssh: SshTransport | None = None,
    run_id: str | None = None,
) -> list[AnchorResult]:
    """Anchor the head now in each of the inventory's places; one result per place."""
    places = inventory.journal.anchors
    if not places:
        return []
    anchor = make_anchor(journal)
    own_ssh = ssh is None and any(p.ssh_file for p in places)
    if own_ssh:
        from orchestrator.transports.ssh import SshTransport

        ssh = SshTransport()
    try:
        return [_one(place, anchor, journal, inventory, ssh, run_id) for place in places]
    finally:
        if own_ssh and ssh is not None:
            ssh.close()


def _one(
    place: AnchorPlace,
    anchor: Anchor,
    journal: Journal,
    inventory: Inventory,
    ssh: SshTransport | None,
    run_id: str | None,
) -> AnchorResult:
    try:
        if place.s3 is not None:
            where = write_s3(place.s3, anchor)
        elif place.ssh_file is not None:
            assert ssh is not None
            where = write_ssh_file(place.ssh_file, anchor, inventory, ssh)
        else:
            assert place.notify is not None
            where = write_notice(place.notify, anchor, inventory, journal)
        result = AnchorResult(place.kind, True, where, anchor.seq)
    except DrError as err:
        result = AnchorResult(place.kind, False, _describe(place), anchor.seq, err.message)
    except Exception as err:  # an anchor must never end a run: record whatever broke
        log.exception("writing a journal anchor failed")
        result = AnchorResult(
            place.kind, False, _describe(place), anchor.seq, f"{type(err).__name__}: {err}"
        )
    kind = "journal.anchored" if result.ok else "journal.anchor_failed"
    try:
        journal.append(kind, run_id=run_id, data={**record_of(anchor), **result.to_dict()})
    except DrError as err:
        log.error("could not journal the anchor's outcome: %s", err.message)
    return result


def _describe(place: AnchorPlace) -> str:
    if place.s3 is not None:
        return f"s3://{place.s3.bucket}/{place.s3.prefix}"
    if place.ssh_file is not None:
        return f"{place.ssh_file.host}:{place.ssh_file.path}"
    assert place.notify is not None
    return f"notify {','.join(place.notify.roles)}"
