"""FastAPI dependencies: the caller's identity as decided by the access guard, and text no database
can store refused before any handler sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile

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


def _unstorable(text: str) -> str | None:
    """Why the text cannot be stored: PostgreSQL refuses NUL in text and JSONB, and half a surrogate
    pair (JSON allows "\\ud800") is not UTF-8 on either database."""
    if "\x00" in text:
        return "may not contain NUL characters (\\u0000); remove them"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate such as \\ud800); send whole characters"
    return None


def _walk(value: Any, loc: tuple[str | int, ...]) -> Iterator[dict[str, Any]]:
    """Every string in a JSON value (keys included) that cannot be stored, with where it is."""
    if isinstance(value, str):
        if why := _unstorable(value):
            yield {"type": "value_error", "loc": loc, "msg": why, "input": value}
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(key, (*loc, key))
            yield from _walk(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*loc, index))


async def refuse_unstorable_text(request: Request) -> None:
    """422 naming each path, query or body field (JSON at any depth, forms, file names) holding text the
    database cannot store; checked once here so no field can forget it."""
    errors = [*_walk(dict(request.path_params), ("path",))]
    for key, value in request.query_params.multi_items():
        errors += _walk({key: value}, ("query",))
    if getattr(request.scope.get("route"), "body_field", None) is not None:  # a route without a body reads none
        errors += await _body_errors(request)
    if errors:
        raise RequestValidationError(errors)


async def _body_errors(request: Request) -> list[dict[str, Any]]:
    content_type = request.headers.get("content-type", "")
    if not content_type or "json" in content_type.partition(";")[0]:  # as FastAPI decides to parse JSON
        try:
            # Request.json() keeps what it parsed: FastAPI's own body parsing reuses it.
            return list(_walk(await request.json(), ("body",)))
        except ValueError:
            return []  # not JSON: FastAPI's own parsing reports it
    errors: list[dict[str, Any]] = []
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        for key, item in (await request.form()).multi_items():
            text = (item.filename or "") if isinstance(item, UploadFile) else item
            errors += _walk({key: text}, ("body",))
    return errors
