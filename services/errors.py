"""Errors a service raises when a request cannot be carried out. The API maps them to 404/409/422/503."""

from __future__ import annotations

import logging
import uuid


class StudioError(Exception):
    """Base: the message is a sentence a person can act on."""


class NotFound(StudioError):
    pass


class Conflict(StudioError):
    """The request clashes with existing data (a taken name, a style still in use...)."""


class Invalid(StudioError):
    """A value is not acceptable; `field` names it (dotted for nested fields)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BackendUnavailable(Invalid):
    """A backend the request needs (ComfyUI, an LLM, ACE-Step...) is not set up or does not answer; the
    message says how to set it up. `field` names the setting or choice that needs it. The API answers 503.

    An Invalid, so the pages that show a refused request's reason show this one the same way.
    """


def report_unexpected(log: logging.Logger, exc: BaseException, what: str) -> str:
    """Log a failure nobody foresaw (a bug) under a short incident id, and say `what` failed in words a person
    can pass on. The exception's own text stays in the log: it can show internals (object reprs, server
    paths, SQL), never the fix."""
    incident = uuid.uuid4().hex[:8]
    log.error("%s (incident %s)", what, incident, exc_info=exc)
    return f"{what} unexpectedly (incident {incident}); the studio log has the details"
