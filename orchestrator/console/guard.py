"""Headers on every answer, and the check that a POST comes from the console's own page.

SameSite=Strict cookies already keep other sites' forms from carrying the session; the
CSRF token (sessions.csrf_token) and the Origin check below are the second and third lock,
for browsers that do not honour SameSite.
"""

from __future__ import annotations

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

# Scripts only from the console itself (no inline script), no framing, and a Referer only
# to the console itself: the address of a one-time link never travels to another site.
# ("no-referrer" would also make browsers send `Origin: null` with the console's forms.)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Guard(BaseHTTPMiddleware):
    def __init__(self, app: object, *, https: bool) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.https = https

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method == "POST" and not same_origin(request):
            return PlainTextResponse("cross-site request refused / 拒绝跨站请求", status_code=403)
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if self.https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # a client that sends none: the CSRF token still has to match
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
