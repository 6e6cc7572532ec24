"""What is sent: one message, in both languages, to the contacts of a roster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.text import Lang, Text


@dataclass(frozen=True)
class Message:
    key: str  # unique per message ever owed (journaled with every delivery)
    level: str  # the alert level it is about: webhooks filter on it
    title: Text
    body: Text
    recipients: tuple[str, ...]  # contact names from the inventory
    context: dict[str, Any] = field(default_factory=dict)  # journaled with each delivery

    def subject(self, lang: Lang) -> str:
        return self.title(lang)

    def text(self, lang: Lang | str) -> str:
        if lang == "both":
            return f"{self.title.zh}\n{self.body.zh}\n\n{self.title.en}\n{self.body.en}"
        return f"{self.title(lang)}\n{self.body(lang)}"  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "level": self.level,
            "title": self.title.to_dict(),
            "body": self.body.to_dict(),
            "recipients": list(self.recipients),
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Message:
        return cls(
            key=doc["key"],
            level=doc["level"],
            title=Text(**doc["title"]),
            body=Text(**doc["body"]),
            recipients=tuple(doc["recipients"]),
            context=dict(doc.get("context") or {}),
        )
