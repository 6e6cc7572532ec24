"""Send each approver a one-time code, to their own channel only.

Their own channels are their email address (with `notifications.smtp`) and any webhook
whose `owner` is them (a bot in a chat of theirs alone). A group bot never gets a code:
anyone in the group could approve with it. The journal records that a code was sent
(its id, the contact, the channel), never the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.identity import one_time
from orchestrator.notify.delivery import DeliveryResult, with_retries
from orchestrator.notify.email import send_email
from orchestrator.notify.message import Message
from orchestrator.notify.webhooks import post_webhook
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.inventory import Contact, Inventory
    from orchestrator.inventory.notifications import Webhook
    from orchestrator.journal import Journal

SENT_EVENT = "approval.code_sent"


def own_channels(
    inventory: Inventory, contact: Contact
) -> list[tuple[str, Callable[[Message], None]]]:
    settings = inventory.notifications
    channels: list[tuple[str, Callable[[Message], None]]] = []
    if settings.smtp is not None and contact.email:
        smtp, address = settings.smtp, contact.email

        def by_email(message: Message) -> None:
            subject = f"{message.title.zh} / {message.title.en}"
            send_email(smtp, address, subject, message.text("both"))

        channels.append(("email", by_email))
    for hook in settings.webhooks:
        if hook.owner == contact.name:
            channels.append((f"webhook:{hook.name}", _by_webhook(hook, contact)))
    return channels


def _by_webhook(hook: Webhook, contact: Contact) -> Callable[[Message], None]:
    return lambda message: post_webhook(hook, message, [contact])


def send_codes(
    journal: Journal,
    inventory: Inventory,
    *,
    run_id: str,
    step_path: str,
    members: tuple[str, ...],
    plan: Text,
) -> list[str]:
    """A code to each member reachable on a channel of their own who holds no unused code
    for this step yet; returns who was sent one."""
    already = set(one_time.issued_for(journal, run_id, step_path))
    sent = []
    for name in members:
        contact = inventory.contact(name)
        channels = own_channels(inventory, contact)
        if name in already or not channels:
            continue
        token = one_time.issue(journal, run_id, step_path, contact)
        message = _message(inventory, run_id, step_path, token, plan)
        results = [_send(channel, send, message, inventory) for channel, send in channels]
        journal.append(
            SENT_EVENT,
            run_id=run_id,
            step_id=step_path,
            actor="dr",
            data={
                "contact": name,
                "code_id": one_time.code_id_for(token),
                "deliveries": [r.to_dict() for r in results],
            },
        )
        if any(r.ok for r in results):
            sent.append(name)
    return sent


def _send(
    channel: str, send: Callable[[Message], None], message: Message, inventory: Inventory
) -> DeliveryResult:
    settings = inventory.notifications
    return with_retries(
        channel, channel, lambda: send(message), settings.retries, settings.backoff, _no_sleep
    )


def _no_sleep(seconds: float) -> None:
    # The approval step is waiting on these sends: retry at once rather than hold it.
    return None


def _message(inventory: Inventory, run_id: str, step_path: str, token: str, plan: Text) -> Message:
    command = f"dr approve {run_id} {step_path} --code {token}"
    link_en = link_zh = ""
    if inventory.console.url is not None:
        link = f"{str(inventory.console.url).rstrip('/')}/approve/{token}"
        link_en = f"\nOr open: {link}"
        link_zh = f"\n或打开链接：{link}"
    return Message(
        key=f"approval-code:{run_id}:{step_path}",
        level="orange",
        title=Text(
            zh=f"待您审批：运行 {run_id} 步骤 {step_path}",
            en=f"Your approval is asked: run {run_id}, step {step_path}",
        ),
        body=Text(
            zh=f"{plan.zh}\n一次性审批码（仅限本人、本步骤、一次有效）：{token}\n"
            f"在任一终端执行：{command}{link_zh}\n如不同意，请勿使用此码。",
            en=f"{plan.en}\nOne-time approval code (yours only, this step only, once): "
            f"{token}\nFrom any terminal run: {command}{link_en}\n"
            "If you do not approve, do not use it.",
        ),
        recipients=(),
    )
