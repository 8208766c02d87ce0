"""The access guard: an ASGI middleware in front of every page, API route and socket.

Trusted clients (loopback, `STUDIO_TRUSTED_NETWORKS`) pass as the `local` principal. Everyone else
needs a bearer token (API) or a page session (set by the login page). The decision and the
principal are left in `scope["state"]` for routes and pages to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from studio.auth.access import LOCAL, AccessPolicy, Principal
from studio.auth.tokens import TokenError, TokenService

# Paths anyone may reach: health for monitors, the token endpoint and login page to get in, and
# NiceGUI's static assets and socket (a socket only drives pages already rendered for its client).
PUBLIC_EXACT = frozenset({"/api/health", "/api/auth/token", "/login", "/favicon.ico"})
PUBLIC_PREFIXES = ("/_nicegui_ws/", "/assets/")
NICEGUI_PREFIX = "/_nicegui/"
NICEGUI_CLIENT_ACTIONS = "/_nicegui/client/"  # uploads/downloads act on a rendered page: not public

SessionLookup = Callable[[Scope], str | None]


def is_public(path: str) -> bool:
    if path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES):
        return True
    return path.startswith(NICEGUI_PREFIX) and not path.startswith(NICEGUI_CLIENT_ACTIONS)


class AccessGuard:
    def __init__(
        self, app: ASGIApp, *, policy: AccessPolicy, tokens: TokenService, session_principal: SessionLookup
    ) -> None:
        self.app = app
        self.policy = policy
        self.tokens = tokens
        self.session_principal = session_principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        peer = scope.get("client")
        client = self.policy.client_address(
            peer[0] if peer else None,
            ",".join(headers.getlist("x-forwarded-for")) or None,
            headers.get("x-real-ip"),
        )
        principal, token_error = self._identify(scope, headers, client)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["principal"] = principal
        state["client_address"] = str(client) if client else "unknown"
        path: str = scope["path"]
        if principal is not None or is_public(path):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401, "reason": "login required"})
        elif path == "/api" or path.startswith("/api/"):
            await _send_unauthorized(send, token_error)
        else:
            await _send_redirect(send, "/login?next=" + quote(path + _query(scope), safe=""))

    def _identify(self, scope: Scope, headers: Headers, client: Any) -> tuple[Principal | None, str | None]:
        if self.policy.is_trusted(client):
            return Principal(LOCAL, "network"), None
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, "the Authorization header must be 'Bearer <token>'"
            try:
                return Principal(self.tokens.verify(token.strip()), "token"), None
            except TokenError as exc:
                return None, str(exc)
        if scope["type"] == "http":
            name = self.session_principal(scope)
            if name:
                return Principal(name, "session"), None
        return None, None


def _query(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return f"?{query}" if query else ""


async def _send_unauthorized(send: Send, reason: str | None) -> None:
    message = reason or (
        "login required: this client is not on a trusted network; get a token with "
        "POST /api/auth/token and send it as 'Authorization: Bearer <token>'"
    )
    body = json.dumps({"detail": message, "status": 401}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="anime-studio"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
