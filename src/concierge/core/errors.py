"""Errors the domain raises; interfaces turn them into one response format."""

from __future__ import annotations


class ConciergeError(Exception):
    """Base error: a machine-readable ``code``, a human ``message`` and field errors."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "field_errors": self.field_errors}


class ValidationFailed(ConciergeError):
    code = "validation_error"
    status = 422


class PermissionDenied(ConciergeError):
    code = "permission_denied"
    status = 403


class NotFound(ConciergeError):
    code = "not_found"
    status = 404


class LimitExceeded(ConciergeError):
    """A request over a configured limit; the message names the limit."""

    code = "limit_exceeded"
    status = 413


class EmailNotConfirmed(ConciergeError):
    """A customer signed in before confirming their address."""

    code = "email_not_confirmed"
    status = 403


class Conflict(ConciergeError):
    code = "conflict"
    status = 409


class NewerEntriesArrived(Conflict):
    """A reply written while someone else added to the conversation since the page loaded.

    The writer reads the new entries, then sends again confirming (without
    the check); nothing was saved.
    """

    code = "newer_entries"
