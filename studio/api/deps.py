"""FastAPI dependencies: the caller's identity as decided by the access guard."""

from __future__ import annotations

from fastapi import HTTPException, Request

from studio.auth import Principal

# Files named by their content never change, so a browser may keep them for good (the kiosk preloads them).
IMMUTABLE_CACHE = {"Cache-Control": "private, max-age=31536000, immutable"}


def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # the guard lets only public paths through without one
        raise HTTPException(401, "login required")
    return principal


def client_address(request: Request) -> str:
    return str(getattr(request.state, "client_address", "unknown"))
