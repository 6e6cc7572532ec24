"""Deliver one message to every channel that reaches its recipients: email to each
contact with an address (in the contact's language), and a post to each webhook that
takes the message's level. Each delivery is retried with doubling backoff, a bounded
number of times, and its outcome journaled as `notification.sent` or
`notification.failed`. Nothing is raised: a runbook or the tick must go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.errors import DrError
from orchestrator.inventory import Contact, Inventory
from orchestrator.journal import Journal
from orchestrator.notify.email import send_email
from orchestrator.notify.failures import DeliveryFailed
from orchestrator.notify.message import Message
from orchestrator.notify.webhooks import PostProgress, post_webhook

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class DeliveryResult:
    channel: str  # "email" or "webhook:NAME"
    recipient: str  # an email address, or the webhook's name
    ok: bool
    attempts: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deliver(
    message: Message,
    inventory: Inventory,
    journal: Journal,
    sleep: Sleep = time.sleep,
    *,
    run_id: str | None = None,
    step_id: str | None = None,
) -> list[DeliveryResult]:
    """Deliver to every channel; `run_id`/`step_id` file each attempt under a runbook's
    step (a runbook's own notice), as `context` files it under an incident."""
    settings = inventory.notifications
    contacts = _contacts(inventory, message.recipients)
    jobs: list[tuple[str, str, Callable[[], None]]] = []
    if settings.smtp is not None:
        smtp = settings.smtp
        for contact in contacts:
            if contact.email:
                jobs.append(("email", contact.email, _email_job(smtp, contact, message)))
    for hook in settings.webhooks:
        if message.level in hook.levels:
            jobs.append((f"webhook:{hook.name}", hook.name, _hook_job(hook, message, contacts)))
    results = []
    for channel, recipient, send in jobs:
        result = with_retries(channel, recipient, send, settings.retries, settings.backoff, sleep)
        kind = "notification.sent" if result.ok else "notification.failed"
        data = {**message.context, "key": message.key, **result.to_dict()}
        journal.append(kind, run_id=run_id, step_id=step_id, data=data)
        results.append(result)
    if not jobs:
        error = _why_nobody_reached(message, settings.smtp is not None)
        result = DeliveryResult("none", ",".join(message.recipients), False, 0, error)
        data = {**message.context, "key": message.key, **result.to_dict()}
        journal.append("notification.failed", run_id=run_id, step_id=step_id, data=data)
        results.append(result)
    return results


def _why_nobody_reached(message: Message, has_smtp: bool) -> str:
    """The reason no channel carried `message`, said as what to fix in the inventory: an
    empty roster and recipients without an address are different mistakes."""
    if not message.recipients:
        return (
            f"no one to tell: the roster for level {message.level} is empty; "
            f"name its people under escalation.{message.level} in the inventory"
        )
    if has_smtp:
        return (
            f"{', '.join(message.recipients)} have no e-mail address and no webhook takes "
            f"level {message.level}: add their email, or a webhook for the level"
        )
    return "no channel reaches the recipients: add notifications.smtp or webhooks"


def with_retries(
    channel: str,
    recipient: str,
    send: Callable[[], None],
    retries: int,
    backoff: float,
    sleep: Sleep,
) -> DeliveryResult:
    error = ""
    for attempt in range(1, retries + 2):
        try:
            send()
            return DeliveryResult(channel, recipient, True, attempt)
        except DeliveryFailed as err:
            error = str(err)
            if err.permanent:
                return DeliveryResult(channel, recipient, False, attempt, error)
        except DrError as err:  # a secret that cannot be read: asking again will not help
            return DeliveryResult(channel, recipient, False, attempt, err.message)
        except Exception as err:
            # A fault of ours must not stop the notices after this one; its text may hold
            # a secret (a URL's token), so only its class is kept, and no traceback.
            error = f"{channel}: unexpected {type(err).__name__} (its text may hold a secret)"
            log.debug("%s to %s failed with %s", channel, recipient, type(err).__name__)
            return DeliveryResult(channel, recipient, False, attempt, error)
        log.warning("%s to %s, attempt %d failed: %s", channel, recipient, attempt, error)
        if attempt <= retries:
            sleep(backoff * 2 ** (attempt - 1))
    return DeliveryResult(channel, recipient, False, retries + 1, error)


def _email_job(smtp: Any, contact: Contact, message: Message) -> Callable[[], None]:
    lang = contact.language
    assert contact.email is not None
    address = contact.email
    return lambda: send_email(smtp, address, message.subject(lang), message.text(lang))


def _hook_job(hook: Any, message: Message, contacts: list[Contact]) -> Callable[[], None]:
    # One progress for every attempt: a retry posts only the parts not yet taken.
    progress = PostProgress()
    return lambda: post_webhook(hook, message, contacts, progress=progress)


def _contacts(inventory: Inventory, names: tuple[str, ...]) -> list[Contact]:
    by_name = {c.name: c for c in inventory.contacts}
    return [by_name[name] for name in names if name in by_name]
