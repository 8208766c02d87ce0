"""Every API error is JSON with a sentence a person can act on: {"detail": ..., "status": ...}."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.errors import Conflict, Invalid, NotFound, StudioError

log = logging.getLogger(__name__)


def _location(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "status": exc.status_code}, exc.status_code, exc.headers)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _location(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": f"invalid request: {summary}", "status": 422, "errors": errors}, 422)

    @api.exception_handler(StudioError)
    async def studio_error(_request: Request, exc: StudioError) -> JSONResponse:
        if isinstance(exc, Invalid):
            return JSONResponse(
                {"detail": str(exc), "status": 422, "errors": [{"field": exc.field, "message": exc.message}]}, 422
            )
        code = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return JSONResponse({"detail": str(exc), "status": code}, code)

    @api.exception_handler(Exception)
    async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:8]
        log.exception("unhandled API error (incident %s)", incident, exc_info=exc)
        return JSONResponse(
            {
                "detail": f"internal error {incident}: {type(exc).__name__}; the studio log has the details",
                "status": 500,
            },
            500,
        )
