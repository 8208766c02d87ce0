"""The access guard: an ASGI middleware in front of every page, API route and socket.

Trusted clients (loopback, `STUDIO_TRUSTED_NETWORKS`) pass as the `local` principal. Everyone else
needs a bearer token (API) or a page session (set by the login page), and the account behind either
must still exist and be enabled: the users table is asked on every such request, so disabling,
deleting or revoking takes effect at once in every studio process sharing the database. NiceGUI's
socket needs the same session as the pages it drives; only the login page's own socket is open to
everyone. The decision and the principal are left in `scope["state"]` for routes and pages to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from studio.auth.access import LOCAL, AccessPolicy, IpAddress, Principal
from studio.auth.tokens import Claims, TokenError, TokenService

# Paths anyone may reach: health for monitors, the token endpoint and login page to get in.
PUBLIC_EXACT = frozenset({"/api/health", "/api/auth/token", "/login"})
# Files every page loads, the login page included; nobody is identified for them (it would cost a
# database lookup per file).
ASSET_EXACT = frozenset({"/favicon.ico"})
ASSET_PREFIXES = ("/assets/",)
NICEGUI_PREFIX = "/_nicegui/"
NICEGUI_CLIENT_ACTIONS = "/_nicegui/client/"  # uploads/downloads act on a rendered page: not public
SOCKET_PREFIX = "/_nicegui_ws/"

SessionLookup = Callable[[Scope], Claims | None]
SocketCheck = Callable[[Scope], bool]

REVOKED = (
    "the token was revoked (its account signed out everywhere, or was disabled or deleted); "
    "request a new one at POST /api/auth/token if you still have access"
)


class AccountCheck(Protocol):
    async def admits(self, name: str, access_generation: int) -> bool:
        """Whether the account exists, is enabled and has not been signed out since that generation."""
        ...


def is_asset(path: str) -> bool:
    if path in ASSET_EXACT or path.startswith(ASSET_PREFIXES):
        return True
    return path.startswith(NICEGUI_PREFIX) and not path.startswith(NICEGUI_CLIENT_ACTIONS)


def is_public(path: str) -> bool:
    return path in PUBLIC_EXACT or is_asset(path)


class AccessGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: AccessPolicy,
        tokens: TokenService,
        accounts: AccountCheck,
        session_principal: SessionLookup,
        socket_of_public_page: SocketCheck,
    ) -> None:
        self.app = app
        self.policy = policy
        self.tokens = tokens
        self.accounts = accounts
        self.session_principal = session_principal
        self.socket_of_public_page = socket_of_public_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if is_asset(path):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        peer = scope.get("client")
        client = self.policy.client_address(
            peer[0] if peer else None, _joined(headers, "x-forwarded-for"), _joined(headers, "x-real-ip")
        )
        principal, token_error = await self._identify(scope, headers, client)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["principal"] = principal
        state["client_address"] = str(client) if client else "unknown"
        if principal is not None or is_public(path):
            await self.app(scope, receive, send)
        elif path.startswith(SOCKET_PREFIX):
            if self.socket_of_public_page(scope):
                await self.app(scope, receive, send)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": "login required"})
            else:
                await _send_unauthorized(send, "login required: log in at /login first")
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401, "reason": "login required"})
        elif path == "/api" or path.startswith("/api/"):
            await _send_unauthorized(send, token_error)
        else:
            await _send_redirect(send, "/login?next=" + quote(path + _query(scope), safe=""))

    async def _identify(
        self, scope: Scope, headers: Headers, client: IpAddress | None
    ) -> tuple[Principal | None, str | None]:
        if self.policy.is_trusted(client):
            return Principal(LOCAL, "network"), None
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, "the Authorization header must be 'Bearer <token>'"
            try:
                claims = self.tokens.verify(token.strip())
            except TokenError as exc:
                return None, str(exc)
            if not await self.accounts.admits(claims.subject, claims.generation):
                return None, REVOKED
            return Principal(claims.subject, "token", claims.generation), None
        session = self.session_principal(scope)
        if session is not None and await self.accounts.admits(session.subject, session.generation):
            return Principal(session.subject, "session", session.generation), None
        return None, None


def _joined(headers: Headers, name: str) -> str | None:
    # Repeated headers are one list (RFC 9110); a repeated X-Real-IP then reads as no address at all.
    values = headers.getlist(name)
    return ",".join(values) if values else None


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
