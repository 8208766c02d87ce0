"""Who a page is rendered for: the principal the access guard put on the request."""

from __future__ import annotations

from starlette.requests import Request

from studio.auth import Principal


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # the access guard only lets public pages through without one
        raise RuntimeError(f"{request.url.path} rendered without a principal; is it listed as public?")
    return principal
