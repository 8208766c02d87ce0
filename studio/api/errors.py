"""Every API error is JSON with a sentence a person can act on: {"detail": ..., "status": ...}, and for
invalid input also `errors`, one {field, message} per problem. The OpenAPI document says so."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.assistant import AssistantNotConfigured
from services.errors import BackendUnavailable, Conflict, Invalid, NotFound, StudioError, report_unexpected
from services.llm import LlmError

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="What went wrong, in a sentence that says how to fix it.")
    status: int = Field(description="The HTTP status again, for clients that only keep the body.")


class FieldError(BaseModel):
    field: str = Field(description="The field, dotted for nested ones (`body` for the body as a whole).")
    message: str


class InvalidOut(ErrorOut):
    """The body of a 422: the request was understood, but a value is not acceptable."""

    errors: list[FieldError]


# What each error status means in this API; every operation lists the ones it can answer.
MEANINGS: dict[int, str] = {
    400: "The request cannot be carried out as asked (the detail says why).",
    401: "Login required: a client off the trusted networks needs a bearer token from POST /api/auth/token.",
    404: "No such entry (or file): the detail names what is missing.",
    409: "The request clashes with the current state (a taken name, a running job, a stale version).",
    422: "A value is not acceptable: `errors` names each field and the fix.",
    429: "Too many attempts: wait before trying again.",
    502: "The backend answered, but with a failure (the detail quotes it).",
    503: "A backend this needs is not set up or does not answer: the detail says how to set it up.",
}

# Errors meaning a backend is missing: the same 503 wherever they surface.
_UNAVAILABLE = (BackendUnavailable, LlmError, AssistantNotConfigured)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route decorator for the error statuses it can answer."""
    return {code: {"model": InvalidOut if code == 422 else ErrorOut, "description": MEANINGS[code]} for code in codes}


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
        if isinstance(exc, _UNAVAILABLE):
            return JSONResponse({"detail": str(exc), "status": 503}, 503)
        if isinstance(exc, Invalid):
            return JSONResponse(
                {"detail": str(exc), "status": 422, "errors": [{"field": exc.field, "message": exc.message}]}, 422
            )
        code = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return JSONResponse({"detail": str(exc), "status": code}, code)

    @api.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        detail = report_unexpected(log, exc, f"{request.method} {request.url.path} failed")
        return JSONResponse({"detail": detail, "status": 500}, 500)


_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def document_errors(schema: dict[str, Any]) -> None:
    """Make the OpenAPI document show the 422 body the studio really sends instead of FastAPI's default."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    invalid = InvalidOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(invalid.pop("$defs", {}))
    components["InvalidOut"] = invalid
    components.setdefault("ErrorOut", ErrorOut.model_json_schema())
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:  # a body that is not UTF-8 JSON or whole multipart cannot be read
                operation["responses"].setdefault("400", {"description": MEANINGS[400], "content": _ERROR_CONTENT})
            invalid_answer = operation.get("responses", {}).get("422")
            if invalid_answer is not None:
                invalid_answer["description"] = MEANINGS[422]
                invalid_answer["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/InvalidOut"}}
                }
