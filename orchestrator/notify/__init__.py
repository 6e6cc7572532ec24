"""Notifications: SMTP email and chat-bot webhooks, with bounded retries, every attempt's
outcome journaled. Nothing here raises into its caller: a failed delivery is a record.

    from orchestrator.notify import Message, deliver
    results = deliver(message, inventory, journal)   # -> list[DeliveryResult]
"""

from orchestrator.notify.delivery import DeliveryResult, deliver
from orchestrator.notify.message import Message

__all__ = ["DeliveryResult", "Message", "deliver"]
