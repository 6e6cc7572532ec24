"""Console sessions: a random id in an HttpOnly cookie, only its hash in the database.

The table `console_sessions` (orchestrator/identity/session_records.py) sits in the
journal's database (like `approval_codes`), so several `dr serve` processes behind one
address share sign-ins, and someone reading the database holds hashes that open nothing.
The CSRF token of a form is derived from the session id: another site can neither read
the cookie nor compute the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from orchestrator.identity.person import Person
from orchestrator.identity.session_records import console_sessions, ensure_table

if TYPE_CHECKING:
    from orchestrator.journal import Journal

COOKIE = "dr_console"


@dataclass(frozen=True)
class Session:
    public_id: str  # names the session in the journal (proof `console:<id>`), opens nothing
    contact: str
    role: str
    signed_in_by: str
    scope: str
    expires_at: datetime

    def person(self) -> Person:
        """Who acts in this session. An approval link's session acts with the redeemed
        code as proof, which the engine re-checks against the code table."""
        proof = self.signed_in_by if self.scope else f"console:{self.public_id}"
        return Person(contact=self.contact, role=self.role, login=None, proof=proof)

    def may_open(self, run_id: str, step_path: str) -> bool:
        return not self.scope or self.scope == f"{run_id}/{step_path}"

    def may_open_run(self, run_id: str) -> bool:
        return not self.scope or self.scope.startswith(f"{run_id}/")


def _hash(session_id: str) -> str:
    return hashlib.sha256(b"dr-console-session:" + session_id.encode()).hexdigest()


def start(journal: Journal, person: Person, minutes: int, scope: str = "") -> str:
    """A new session for `person`; returns its id (for the cookie only)."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    ensure_table(journal)
    with journal.engine.begin() as conn:
        conn.execute(
            insert(console_sessions).values(
                id_hash=_hash(session_id),
                public_id=_hash(session_id)[:16],
                contact=person.contact,
                role=person.role,
                signed_in_by=person.proof,
                scope=scope,
                created_at=now.isoformat(),
                expires_at=(now + timedelta(minutes=minutes)).isoformat(),
            )
        )
    return session_id


def find(journal: Journal, session_id: str | None) -> Session | None:
    """The live session of this cookie value, or None (unknown or expired)."""
    if not session_id:
        return None
    ensure_table(journal)
    with journal.engine.connect() as conn:
        row = conn.execute(
            select(console_sessions).where(console_sessions.c.id_hash == _hash(session_id))
        ).first()
    if row is None:
        return None
    expires = datetime.fromisoformat(row.expires_at)
    if expires <= datetime.now(UTC):
        return None
    return Session(row.public_id, row.contact, row.role, row.signed_in_by, row.scope, expires)


def end(journal: Journal, session_id: str | None) -> None:
    """Sign out: the session expires now. Its row stays, so that an approval given in it
    can still be re-checked (see identity/session_records.py)."""
    if not session_id:
        return
    ensure_table(journal)
    with journal.engine.begin() as conn:
        conn.execute(
            update(console_sessions)
            .where(console_sessions.c.id_hash == _hash(session_id))
            .values(expires_at=datetime.now(UTC).isoformat())
        )


def csrf_token(session_id: str) -> str:
    return hashlib.sha256(b"dr-console-csrf:" + session_id.encode()).hexdigest()


def csrf_ok(session_id: str | None, token: str | None) -> bool:
    if not session_id or not token:
        return False
    return hmac.compare_digest(csrf_token(session_id), token)
