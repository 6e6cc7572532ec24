"""The webhook receiver: POST /alertmanager and POST /zabbix.

Only a sender holding the inventory's credential gets in (401 otherwise); the body is
bounded (413) and anything malformed gets a 400 that says which field, never a traceback.
Intake is serialised: Alertmanager may send the same group twice at once, and two
requests must not both decide that no incident exists yet.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestrator.alerts.intake import take_alert
from orchestrator.alerts.payloads import Alert, BadPayload, alertmanager_alerts, zabbix_alert
from orchestrator.errors import DrError, UserInputError
from orchestrator.inventory.alert_routes import AlertAuth
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.secrets import resolve_secret
from orchestrator.journal import Journal

# Alertmanager batches a group's alerts; a few hundred alerts fit easily in 1 MiB.
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Credential:
    """The one Authorization header value a sender must present."""

    expected: str

    @classmethod
    def from_settings(cls, auth: AlertAuth | None) -> Credential:
        if auth is None:
            raise UserInputError(
                "alerts.auth is missing: give alerts: {auth: {bearer_token: env:NAME}} (or "
                "username and password) so that only your Alertmanager or Zabbix can open "
                "incidents. / 请在清单 alerts.auth 中配置令牌或用户名密码。"
            )
        if auth.bearer_token is not None:
            return cls(f"Bearer {resolve_secret(auth.bearer_token)}")
        assert auth.username is not None and auth.password is not None
        pair = f"{auth.username}:{resolve_secret(auth.password)}".encode()
        return cls(f"Basic {base64.b64encode(pair).decode()}")

    def admits(self, header: str | None) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self.expected.encode())


def build_app(
    journal: Journal, inventory: Inventory, credential: Credential, db_option: str | None = None
) -> Starlette:
    lock = threading.Lock()

    def take_all(alerts: list[Alert]) -> list[dict[str, Any]]:
        with lock:
            return [take_alert(journal, inventory, a, db_option).to_dict() for a in alerts]

    def endpoint(
        parse: Callable[[Any], list[Alert]],
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def receive(request: Request) -> JSONResponse:
            if not credential.admits(request.headers.get("authorization")):
                return _error(401, "missing or wrong credentials / 认证失败", authenticate=True)
            body = await _bounded_body(request)
            if body is None:
                return _error(413, f"body larger than {MAX_BODY} bytes / 请求体过大")
            try:
                alerts = parse(json.loads(body))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                return _error(400, f"body is not JSON: {err} / 请求体不是合法 JSON")
            except BadPayload as err:
                return _error(400, str(err))
            try:
                outcomes = await run_in_threadpool(take_all, alerts)
            except UserInputError as err:
                return _error(400, str(err))
            except DrError as err:
                return _error(500, str(err))
            return JSONResponse({"results": outcomes})

        return receive

    return Starlette(
        routes=[
            Route("/alertmanager", endpoint(alertmanager_alerts), methods=["POST"]),
            Route("/zabbix", endpoint(lambda doc: [zabbix_alert(doc)]), methods=["POST"]),
            Route("/healthz", _health, methods=["GET"]),
        ]
    )


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, *, authenticate: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="dr-alerts"'} if authenticate else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)
