"""Who is acting: an authenticated person mapped to an inventory contact.

A name typed on the command line proves nothing. The process's real uid does: the OS
authenticated whoever logged in, and `contacts[].login` maps that account to a contact.
People who are not at a terminal prove themselves with a one-time code sent to their own
channel (`one_time.py`); the console proves its users with a session (`console:<id>`).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import UserInputError

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.inventory.contacts import Contact


class IdentityUnknown(UserInputError):
    """The account running `dr` is no contact of the inventory, or claims to be another."""


@dataclass(frozen=True)
class Person:
    """An authenticated person: which contact, in which role, and how we know."""

    contact: str
    role: str
    login: str | None
    proof: str

    @classmethod
    def of(cls, contact: Contact, *, login: str | None, proof: str) -> Person:
        return cls(contact=contact.name, role=contact.role, login=login, proof=proof)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "contact": self.contact,
            "role": self.role,
            "login": self.login,
            "proof": self.proof,
        }


def terminal_account() -> tuple[str, int]:
    """The account of the process's real uid (not the effective uid, not $USER): a
    setuid wrapper or an edited environment cannot change whose session this is."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name, uid
    except KeyError as err:
        raise IdentityUnknown(
            f"uid {uid} has no account name (no passwd entry): dr cannot tell who you are. / "
            f"用户 ID {uid} 没有账户名，无法识别身份。"
        ) from err


def person_at_terminal(inventory: Inventory) -> Person:
    """The contact whose `login` is this process's account, or IdentityUnknown."""
    account, uid = terminal_account()
    found = [c for c in inventory.contacts if c.login == account]
    if not found:
        raise IdentityUnknown(
            f"OS account {account!r} (uid {uid}) is no contact of inventory "
            f"{inventory.name!r}: add `login: {account}` to your entry under contacts "
            f"(the inventory's owner does this once). / 操作系统账户 {account} 未对应清单中的"
            f"联系人：请在您的联系人条目中加入 login: {account}。"
        )
    if len(found) > 1:
        names = ", ".join(c.name for c in found)
        raise IdentityUnknown(
            f"OS account {account!r} is the login of several contacts ({names}): each "
            "person needs an account of their own. / 同一账户对应多个联系人，请每人使用独立账户。"
        )
    return Person.of(found[0], login=account, proof=f"os-account:{account} (uid {uid})")


def unmapped_at_terminal() -> Person:
    """This process's account when it maps to no contact: a drill may be started so (a
    test or lab inventory), but such a person holds no role and can approve nothing."""
    account, uid = terminal_account()
    return Person(contact="", role="", login=account, proof=f"os-account:{account} (uid {uid})")


def check_claim(claimed: str | None, person: Person, *, option: str) -> None:
    """`--as`, `--operator` and DR_OPERATOR may only repeat who the terminal is."""
    if claimed is None or claimed == "":
        return
    if claimed in (person.contact, person.login):
        return
    who = person.contact or f"OS account {person.login!r} (no contact)"
    raise IdentityUnknown(
        f"{option} {claimed!r}: this terminal is {who} ({person.proof}); dr acts as the "
        "person logged in, never as a name given. Someone else approves from their own "
        "account or with the one-time code sent to them (`dr approve RUN STEP --code CODE`). "
        f"/ {option} 只能是当前登录者本人，不能代他人操作。"
    )


def shown_name(person: Person) -> str:
    """The name the journal records as the actor."""
    return person.contact or f"os:{person.login}"
