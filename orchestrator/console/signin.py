"""Sign-in codes: one-time codes (identity/one_time.py) for the console, not for a step.

A person types their contact name; a code goes to their own channels (code_delivery's
`own_channels`: their email, a bot of theirs alone), valid minutes and once. Or a person
at a terminal runs `dr serve link` and gets a link for themselves (their OS account is
who they are). Either way the code, not the typed name, says who signs in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from orchestrator.identity import one_time
from orchestrator.identity.code_delivery import own_channels
from orchestrator.identity.person import Person
from orchestrator.identity.session_records import SIGN_IN_PURPOSE
from orchestrator.masking import known_secrets
from orchestrator.notify.message import Message
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.journal import Journal

PURPOSE = SIGN_IN_PURPOSE
RUN_ID = "console"
STEP = "sign-in"
VALID_FOR = timedelta(minutes=10)


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/signin/{token}"


def issue(journal: Journal, inventory: Inventory, contact_name: str) -> str:
    contact = inventory.contact(contact_name)
    return one_time.issue(journal, RUN_ID, STEP, contact, PURPOSE, valid_for=VALID_FOR)


def send_code(journal: Journal, inventory: Inventory, contact_name: str, base_url: str) -> bool:
    """Send a sign-in code to the contact's own channels; False if they have none (or the
    name is no contact): the caller answers the same either way."""
    contact = next((c for c in inventory.contacts if c.name == contact_name), None)
    if contact is None:
        return False
    channels = own_channels(inventory, contact)
    if not channels:
        return False
    token = issue(journal, inventory, contact.name)
    message = _message(token, link(base_url, token))
    failures: dict[str, str] = {}
    for channel, send in channels:
        try:
            send(message)
        except Exception as err:  # one channel down must not stop the others
            failures[channel] = known_secrets()(f"{type(err).__name__}: {err}")
    journal.append(
        "console.sign_in_code_sent",
        actor="dr",
        data={
            "contact": contact.name,
            "code_id": one_time.code_id_for(token),
            "channels": [c for c, _ in channels],
            "failures": failures,
        },
    )
    return len(failures) < len(channels)


def redeem(journal: Journal, token: str) -> Person:
    """The person the code was sent to (CodeRefused if unknown, used or expired)."""
    return one_time.redeem(journal, token, run_id=RUN_ID, step_path=STEP, purpose=PURPOSE)


def _message(token: str, url: str) -> Message:
    minutes = int(VALID_FOR.total_seconds() // 60)
    return Message(
        key=f"console-sign-in:{one_time.code_id_for(token)}",
        level="blue",
        title=Text(zh="灾备控制台登录码", en="Duty-room console sign-in code"),
        body=Text(
            zh=f"您的一次性登录码（{minutes} 分钟内有效，仅一次）：{token}\n或打开：{url}\n"
            "如非本人操作，请忽略并告知值班负责人。",
            en=f"Your one-time sign-in code (valid {minutes} minutes, once): {token}\n"
            f"Or open: {url}\nIf you did not ask for it, ignore it and tell the duty lead.",
        ),
        recipients=(),
    )
