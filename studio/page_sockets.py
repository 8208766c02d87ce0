"""Who may drive a page over NiceGUI's socket, message by message.

NiceGUI hands a socket's messages to whichever page client the message names, and never asks an
open socket for its login again. So a socket reaches only the client it handshook for (the
handshake put it in that client's room), and before each page event of a logged-in user the account
is asked again: a page left open stops working as soon as its user is disabled, deleted or signed
out everywhere, in whichever studio process it is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nicegui import core

from studio.auth import AccountCheck, Principal

log = logging.getLogger(__name__)

# Messages a page sends about its own client; "event" is the one that runs the page's handlers.
PAGE_MESSAGES = ("event", "javascript_response", "ack", "log")

Handler = Callable[..., Any]


class PageSockets:
    def __init__(self, accounts: AccountCheck) -> None:
        self._accounts = accounts
        # One page event at a time per socket: the account check awaits the database, and a page's
        # events must still reach it in the order they were sent (a typed value before the click).
        self._turns: dict[str, asyncio.Lock] = {}

    def bind(self) -> None:
        """Put the checks in front of NiceGUI's own socket handlers (again, if a studio was mounted before)."""
        handlers = core.sio.handlers["/"]
        nicegui = {name: _unwrapped(handlers[name]) for name in (*PAGE_MESSAGES, "disconnect")}
        core.sio.on("event", _wrapping(nicegui["event"], self._event(nicegui["event"])))
        for name in PAGE_MESSAGES[1:]:
            core.sio.on(name, _wrapping(nicegui[name], self._own_client_only(nicegui[name])))
        core.sio.on("disconnect", _wrapping(nicegui["disconnect"], self._disconnect(nicegui["disconnect"])))

    def _event(self, handler: Handler) -> Handler:
        async def checked(sid: str, msg: Any) -> None:
            if not _for_own_client(sid, msg):
                return
            async with self._turns.setdefault(sid, asyncio.Lock()):
                if await self._still_admitted(sid):
                    handler(sid, msg)
                else:
                    # The page reloads (NiceGUI's own reconnect message), and the reload meets the login.
                    await core.sio.emit("try_reconnect", to=sid)

        return checked

    def _own_client_only(self, handler: Handler) -> Handler:
        def checked(sid: str, msg: Any) -> None:
            if _for_own_client(sid, msg):
                handler(sid, msg)

        return checked

    def _disconnect(self, handler: Handler) -> Handler:
        def forget(sid: str, *_reason: Any) -> None:
            self._turns.pop(sid, None)
            handler(sid)

        return forget

    async def _still_admitted(self, sid: str) -> bool:
        # The access guard left its decision in the scope of the request that opened the socket.
        scope = core.sio.get_environ(sid).get("asgi.scope", {})
        principal: Principal | None = scope.get("state", {}).get("principal")
        if principal is None or principal.is_local:  # None: let in as the login page's own socket
            return True
        generation = principal.access_generation
        return generation is not None and await self._accounts.admits(principal.name, generation)


def _for_own_client(sid: str, msg: Any) -> bool:
    if isinstance(msg, dict) and msg.get("client_id") in core.sio.rooms(sid):
        return True
    log.warning("dropped a socket message for a page client other than the socket's own")
    return False


def _wrapping(original: Handler, wrapper: Handler) -> Handler:
    wrapper.nicegui_handler = original  # type: ignore[attr-defined]
    return wrapper


def _unwrapped(handler: Handler) -> Handler:
    return getattr(handler, "nicegui_handler", handler)
