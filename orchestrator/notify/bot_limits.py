"""What each chat bot accepts: the vendors' size limits, the messages split to fit them,
and mobile numbers written the way the bots match them.

The limits, as the vendors document them (looked up December 2026):
- WeCom group robot (企业微信群机器人, "消息类型及数据格式", text): `content` "最长不超过
  2048个字节，必须是utf8编码" (2048 bytes of UTF-8; markdown would allow 4096, but we
  send text, the type whose mentions work).
- DingTalk custom robot (钉钉自定义机器人): a larger request is refused with errcode 460101
  "body 大小不合法 ... 请保持大小在 20000bytes 以内": the whole JSON body, 20000 bytes.
- Feishu custom bot (飞书自定义机器人使用指南): "请求体大小不能超过 20 KB": the whole
  JSON body; we count 20000 bytes so as not to depend on which kilobyte is meant.
A message over its bot's limit is refused whole: nobody in the group would see it. It
is sent as numbered parts instead, at most `MAX_PARTS` of them (the bots also take at
most 20 messages a minute); what is left after that is cut, and the last part says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.text import Text

MAX_PARTS = 5
# A Chinese mobile number as the bots match it: 11 digits from 1, with no +86 or spaces.
_MOBILE = re.compile(r"1\d{10}")


@dataclass(frozen=True)
class BotLimit:
    measured: Literal["content", "body"]  # the text field alone, or the whole JSON body
    max_bytes: int

    def fits(self, body: dict[str, Any], content: str) -> bool:
        if self.measured == "content":
            return len(content.encode()) <= self.max_bytes
        return len(json.dumps(body, ensure_ascii=False).encode()) <= self.max_bytes


LIMITS: dict[str, BotLimit] = {
    "wecom": BotLimit("content", 2048),
    "dingtalk": BotLimit("body", 20000),
    "feishu": BotLimit("body", 20000),
}


def bare_mobile(phone: str | None) -> str | None:
    """'+86 138-0000-0001' -> '13800000001'; None for a number no bot can mention (a
    landline, a number abroad): the bots match the plain 11 digits only."""
    if not phone:
        return None
    digits = re.sub(r"[\s\-()]", "", phone)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits if _MOBILE.fullmatch(digits) else None


def cut_note(key: str) -> Text:
    return Text(
        zh=f"……（消息过长，余下部分未发到本群；全文见邮件通知，通知编号 {key}）",
        en=f"... (cut: too long for this chat; the full text is in the e-mail notice {key})",
    )


def split_to_fit(text: str, fits: Callable[[str], bool], note: str) -> list[str]:
    """`text` as parts for which `fits` holds, each marked "(k/n)" when there are more
    than one; broken between lines where it can, inside a line where it must; beyond
    `MAX_PARTS` the rest is dropped and the last part ends with `note`."""
    if fits(text):
        return [text]

    def marked_fits(part: str) -> bool:
        return fits(f"({MAX_PARTS}/{MAX_PARTS}) {part}")

    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if marked_fits(candidate):
            current = candidate
            continue
        if current:
            parts.append(current)
        while not marked_fits(line):
            head = _longest_head(line, marked_fits)
            parts.append(line[:head])
            line = line[head:]
        current = line
    if current:
        parts.append(current)
    if len(parts) > MAX_PARTS:
        last = parts[MAX_PARTS - 1]
        keep = _longest_head(last, lambda head: marked_fits(head + note))
        parts = [*parts[: MAX_PARTS - 1], last[:keep] + note]
    return [f"({index}/{len(parts)}) {part}" for index, part in enumerate(parts, 1)]


def _longest_head(line: str, fits: Callable[[str], bool]) -> int:
    """How many characters of `line` fit (at least one, so the split always moves on)."""
    low, high = 1, len(line)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(line[:middle]):
            low = middle
        else:
            high = middle - 1
    return low
