"""Chat-bot webhooks: a generic JSON POST, and the WeCom, DingTalk and Feishu bot formats.

A bot URL carries its access token, so it is a secret reference and never appears in a
message, a log or the journal; errors name the webhook, not the URL. That holds for a
malformed URL too: it is checked here before urllib sees it, because urllib's and
http.client's errors quote the URL they refused.

Signing (the bots' "加签" setting), HMAC-SHA256 then base64:
- DingTalk: key = secret, message = f"{timestamp_ms}\\n{secret}"; the timestamp and the
  (URL-encoded) signature go into the URL's query as `timestamp` and `sign`.
- Feishu: key = f"{timestamp_s}\\n{secret}", empty message; `timestamp` and `sign` go
  into the JSON body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from orchestrator.inventory import Contact
from orchestrator.inventory.notifications import Webhook
from orchestrator.inventory.secrets import resolve_secret
from orchestrator.notify.bot_limits import LIMITS, bare_mobile, cut_note, split_to_fit
from orchestrator.notify.failures import DeliveryFailed
from orchestrator.notify.message import Message


@dataclass
class PostProgress:
    """How many parts of one message a webhook has taken: a retry goes on from the first
    part not yet taken instead of posting the group the earlier parts again."""

    sent: int = 0


def post_webhook(
    hook: Webhook,
    message: Message,
    contacts: list[Contact],
    now: float | None = None,
    *,
    progress: PostProgress | None = None,
) -> None:
    """Post `message` to the bot, in as many parts as its size limit needs (bot_limits)."""
    url = _checked_url(hook, resolve_secret(hook.url).strip())
    secret = resolve_secret(hook.secret) if hook.secret is not None else None
    done = progress if progress is not None else PostProgress()
    bodies = payloads(hook, message, contacts)
    for body in bodies[done.sent :]:
        moment = time.time() if now is None else now
        target = url
        if secret is not None and hook.kind == "dingtalk":
            target = _with_query(url, dingtalk_signature(secret, int(moment * 1000)))
        elif secret is not None and hook.kind == "feishu":
            body = {**body, **feishu_signature(secret, int(moment))}
        part = f" (part {done.sent + 1} of {len(bodies)})" if len(bodies) > 1 else ""
        _post(hook, target, body, part)
        done.sent += 1


def payload(hook: Webhook, message: Message, contacts: list[Contact]) -> dict[str, Any]:
    """The first (usually the only) body posted for `message`."""
    return payloads(hook, message, contacts)[0]


def payloads(hook: Webhook, message: Message, contacts: list[Contact]) -> list[dict[str, Any]]:
    """The bodies to post, in order: one per part of a message longer than the bot takes.
    The roster is mentioned in the first part only (one alert per person, not one per
    part)."""
    text = message.text(hook.language)
    limit = LIMITS.get(hook.kind)
    if limit is None:
        return [{**message.to_dict(), "text": text}]

    def fits(part: str) -> bool:
        # Measured with the mentions (the first part carries them); Feishu's signature,
        # added to the body later, is under 100 bytes of the limit's margin (bot_limits).
        body = _bot_body(hook.kind, part, contacts)
        return limit.fits(body, _content(hook.kind, body))

    said = cut_note(message.key)
    note = f"{said.zh}\n{said.en}" if hook.language == "both" else said(hook.language)
    parts = split_to_fit(text, fits, note)
    return [_bot_body(hook.kind, part, contacts if i == 0 else []) for i, part in enumerate(parts)]


def _bot_body(kind: str, text: str, contacts: list[Contact]) -> dict[str, Any]:
    if kind == "wecom":
        # WeCom matches a mention by its user id, else by the bare mobile number.
        ids = [c.wecom for c in contacts if c.wecom]
        phones = [m for c in contacts if not c.wecom and (m := bare_mobile(c.phone))]
        return {
            "msgtype": "text",
            "text": {"content": text, "mentioned_list": ids, "mentioned_mobile_list": phones},
        }
    if kind == "dingtalk":
        # DingTalk highlights and notifies a person only where the text itself carries
        # "@<userid>" or "@<mobile>" (as in its own examples); the `at` lists alone do not.
        ids = [c.dingtalk for c in contacts if c.dingtalk]
        phones = [m for c in contacts if not c.dingtalk and (m := bare_mobile(c.phone))]
        mentions = " ".join(f"@{who}" for who in [*ids, *phones])
        return {
            "msgtype": "text",
            "text": {"content": f"{text}\n{mentions}" if mentions else text},
            "at": {"atUserIds": ids, "atMobiles": phones, "isAtAll": False},
        }
    # Feishu: the mention is an <at> tag inside the text.
    mentions = "".join(f'<at user_id="{c.feishu}">{c.name}</at>' for c in contacts if c.feishu)
    return {"msg_type": "text", "content": {"text": f"{text}\n{mentions}".rstrip()}}


def _content(kind: str, body: dict[str, Any]) -> str:
    if kind == "feishu":
        return str(body["content"]["text"])
    return str(body["text"]["content"])


def dingtalk_signature(secret: str, timestamp_ms: int) -> dict[str, str]:
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return {"timestamp": str(timestamp_ms), "sign": base64.b64encode(digest).decode()}


def feishu_signature(secret: str, timestamp_s: int) -> dict[str, str]:
    key = f"{timestamp_s}\n{secret}".encode()
    digest = hmac.new(key, b"", hashlib.sha256).digest()
    return {"timestamp": str(timestamp_s), "sign": base64.b64encode(digest).decode()}


def _checked_url(hook: Webhook, url: str) -> str:
    """`url` if it is a plain http(s) URL; else a permanent failure that does not quote
    it (no scheme such as file:// that would read or write on this machine)."""
    problem = None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        problem = "cannot be parsed"
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "is not an http:// or https:// URL with a host"
        elif any(c.isspace() or not c.isprintable() for c in url):
            problem = "contains spaces or control characters"
    if problem is not None:
        raise DeliveryFailed(
            f"webhook {hook.name} ({hook.kind}): the URL read from {hook.url} {problem}; "
            "fix that secret",
            permanent=True,
        )
    return url


def _with_query(url: str, extra: dict[str, str]) -> str:
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + joiner + urllib.parse.urlencode(extra)


def _post(hook: Webhook, url: str, body: dict[str, Any], part: str = "") -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    where = f"webhook {hook.name} ({hook.kind}){part}"
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout) as response:
            reply = response.read()
    except urllib.error.HTTPError as err:
        # 4xx other than 429 will not get better by asking again.
        permanent = 400 <= err.code < 500 and err.code != 429
        raise DeliveryFailed(
            f"{where}: HTTP {err.code} {err.reason}", permanent=permanent
        ) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DeliveryFailed(f"{where}: cannot reach it ({reason})") from None
    except (ValueError, http.client.HTTPException) as err:
        # Their messages may quote the URL, and with it the token: the class name only.
        raise DeliveryFailed(f"{where}: the request failed ({type(err).__name__})") from None
    _check_bot_reply(hook, where, reply)


def _check_bot_reply(hook: Webhook, where: str, reply: bytes) -> None:
    """The bots answer HTTP 200 with an error code in the body; 0 is success."""
    if hook.kind == "generic":
        return
    try:
        doc = json.loads(reply or b"{}")
    except ValueError:
        raise DeliveryFailed(f"{where}: the reply is not JSON") from None
    code = doc.get("errcode", doc.get("code", doc.get("StatusCode", 0)))
    if code not in (0, "0", None):
        message = doc.get("errmsg") or doc.get("msg") or doc.get("StatusMessage") or ""
        raise DeliveryFailed(f"{where}: the bot refused the message: {code} {message}")
