"""Errors a service raises when a request cannot be carried out. The API maps them to 404/409/422."""

from __future__ import annotations


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
