"""Template filters for the portal: ticket states in the customer's words."""

from __future__ import annotations

from django import template

from concierge.tickets.models import Status

register = template.Library()

# Customers care whether we are working on it, waiting for them, or done.
_CUSTOMER_STATUS: dict[str, tuple[str, str]] = {
    Status.NEW: ("Open", "open"),
    Status.OPEN: ("Open", "open"),
    Status.ON_HOLD: ("Open", "open"),
    Status.PENDING: ("Awaiting your reply", "awaiting"),
    Status.SOLVED: ("Solved", "solved"),
    Status.CLOSED: ("Solved", "solved"),
}


@register.filter
def customer_status(status: str) -> str:
    """The status as a customer reads it: open, awaiting your reply, solved."""
    return _CUSTOMER_STATUS.get(status, ("Open", "open"))[0]


@register.filter
def customer_status_key(status: str) -> str:
    """A stable key for styling the status badge."""
    return _CUSTOMER_STATUS.get(status, ("Open", "open"))[1]
