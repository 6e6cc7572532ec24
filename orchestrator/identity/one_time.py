"""One-time approval codes: for people who are not at a terminal of the orchestrator.

A code is sent to one contact's own channel; whoever holds it proves to be that contact,
for one step of one run, once, until it expires. Only its SHA-256 is stored (in the
journal's database, table `approval_codes`): someone reading the database cannot use a
code, and the journal and logs name a code by its id, never by its value.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, String, Table, and_, insert, select, update

from orchestrator.errors import UserInputError
from orchestrator.identity.person import Person

if TYPE_CHECKING:
    from orchestrator.inventory.contacts import Contact
    from orchestrator.journal import Journal

VALID_FOR = timedelta(hours=12)
# 24 random bytes: 192 bits, well past guessing, short enough to read out over a phone.
TOKEN_BYTES = 24

_metadata = MetaData()
approval_codes = Table(
    "approval_codes",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("run_id", String(64), nullable=False),
    Column("step_path", String(400), nullable=False),
    Column("contact", String(200), nullable=False),
    Column("role", String(200), nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("used_at", String(40), nullable=True),
)


class CodeRefused(UserInputError):
    """A one-time code that does not open this step: unknown, used, expired or elsewhere."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    journal: Journal,
    run_id: str,
    step_path: str,
    contact: Contact,
    purpose: str = "approval",
    *,
    valid_for: timedelta = VALID_FOR,
) -> str:
    """A new code for `contact`, valid for this step of this run; returns the code itself
    (the caller sends it and forgets it)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = datetime.now(UTC)
    row = {
        "id": code_id_for(token),
        "token_hash": token_hash(token),
        "run_id": run_id,
        "step_path": step_path,
        "contact": contact.name,
        "role": contact.role,
        "purpose": purpose,
        "issued_at": now.isoformat(),
        "expires_at": (now + valid_for).isoformat(),
        "used_at": None,
    }
    engine = journal.engine
    _metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(insert(approval_codes).values(**row))
    return token


def code_id_for(token: str) -> str:
    """The code's public name (journal, logs): a different hash, so it opens nothing."""
    return hashlib.sha256(b"dr-approval-code-id:" + token.encode()).hexdigest()[:16]


def redeem(
    journal: Journal, token: str, *, run_id: str, step_path: str, purpose: str = "approval"
) -> Person:
    """The person the code was sent to, once: it is marked used in the same statement
    that checks it is unused, so two redeemers racing get one success between them."""
    person = check(journal, token, run_id=run_id, step_path=step_path, purpose=purpose)
    digest = token_hash(token.strip())
    cols = approval_codes.c
    with journal.engine.begin() as conn:
        marked = conn.execute(
            update(approval_codes)
            .where(and_(cols.token_hash == digest, cols.used_at.is_(None)))
            .values(used_at=datetime.now(UTC).isoformat())
        )
    if marked.rowcount != 1:
        raise CodeRefused(
            f"this code ({person.proof}) was just used by someone else. / 审批码已被使用。"
        )
    return person


def check(
    journal: Journal, token: str, *, run_id: str, step_path: str, purpose: str = "approval"
) -> Person:
    """Who the code proves, if it opens this step now; marks nothing (see `redeem`)."""
    engine = journal.engine
    _metadata.create_all(engine, checkfirst=True)
    digest = token_hash(token.strip())
    cols = approval_codes.c
    with engine.connect() as conn:
        row = conn.execute(select(approval_codes).where(cols.token_hash == digest)).first()
    if row is None:
        raise CodeRefused(
            "this approval code is unknown (mistyped, or not issued by this journal): use "
            "the code from your own message, or ask for a new one. / 审批码无效，请核对。"
        )
    if row.run_id != run_id or row.step_path != step_path or row.purpose != purpose:
        raise CodeRefused(
            f"this code ({row.id}) was issued for step {row.step_path} of run {row.run_id} "
            f"({row.purpose}), not for step {step_path} of run {run_id}: a code opens only "
            "the step it was sent for. / 该审批码只适用于签发时对应的运行与步骤。"
        )
    if row.used_at is not None:
        raise CodeRefused(
            f"this code ({row.id}) was already used at {row.used_at}: each code works once. "
            "/ 该审批码已使用过，每个审批码只能使用一次。"
        )
    now = datetime.now(UTC)
    if datetime.fromisoformat(row.expires_at) <= now:
        raise CodeRefused(
            f"this code ({row.id}) expired at {row.expires_at}: ask for a new one "
            "(`dr resume` the run re-sends codes). / 该审批码已过期。"
        )
    return Person(
        contact=str(row.contact),
        role=str(row.role),
        login=None,
        proof=f"one-time-code:{row.id}",
    )


def issued_for(journal: Journal, run_id: str, step_path: str) -> list[str]:
    """Contacts that already hold an unexpired, unused code for this step (not resent)."""
    engine = journal.engine
    _metadata.create_all(engine, checkfirst=True)
    cols = approval_codes.c
    now = datetime.now(UTC).isoformat()
    with engine.connect() as conn:
        rows = conn.execute(
            select(cols.contact, cols.expires_at).where(
                and_(cols.run_id == run_id, cols.step_path == step_path, cols.used_at.is_(None))
            )
        ).all()
    return sorted({str(r.contact) for r in rows if str(r.expires_at) > now})


def used_code(journal: Journal, code_id: str) -> tuple[str, str, str, str] | None:
    """(run_id, step_path, contact, purpose) of a code that has been redeemed, else None:
    the engine's re-check that an approval naming a code really redeemed it."""
    engine = journal.engine
    _metadata.create_all(engine, checkfirst=True)
    cols = approval_codes.c
    with engine.connect() as conn:
        row = conn.execute(
            select(cols.run_id, cols.step_path, cols.contact, cols.purpose).where(
                and_(cols.id == code_id, cols.used_at.is_not(None))
            )
        ).first()
    return None if row is None else (row.run_id, row.step_path, row.contact, row.purpose)
