"""Ticket list cells, rendered in Python.

An inbox page shows 25 rows of up to 13 columns; rendering each cell through
a template include cost more than every query of the page together. These
functions produce the same markup with ``format_html``, which escapes every
value it is given, so nothing a user typed reaches the page unescaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from django.urls import reverse
from django.utils import dateformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

from concierge.ai.services import TicketLabel, display_label
from concierge.tickets.models import Ticket
from concierge.tickets.services import PREDICTION_COLUMNS

DASH = "—"


def _time(value: datetime | None, *, with_title: bool = True) -> SafeString:
    if value is None:
        return format_html("<td>{}</td>", DASH)
    iso = dateformat.format(value, "c")
    shown = dateformat.format(value, "M j, H:i")
    if not with_title:
        return format_html('<td><time datetime="{}">{}</time></td>', iso, shown)
    title = dateformat.format(value, "Y-m-d H:i") + " UTC"
    return format_html('<td><time datetime="{}" title="{}">{}</time></td>', iso, title, shown)


def _tags(ticket: Ticket) -> SafeString:
    tags = list(ticket.tags.all())  # prefetched by the list query
    if not tags:
        return format_html("<td>{}</td>", DASH)
    spans = format_html_join("", '<span class="tag">{}</span>', ((tag.name,) for tag in tags))
    return format_html("<td>{}</td>", spans)


CELLS: dict[str, Callable[[Ticket], SafeString]] = {
    "number": lambda t: format_html('<td class="col-number">#{}</td>', t.pk),
    "subject": lambda t: format_html(
        '<td class="col-subject"><a href="{}" data-ticket-link>{}</a></td>',
        reverse("workspace:ticket", args=[t.pk]),
        t.subject,
    ),
    "requester": lambda t: format_html('<td class="col-requester">{}</td>', t.requester.name),
    "organization": lambda t: format_html(
        "<td>{}</td>", t.organization.name if t.organization else DASH
    ),
    "status": lambda t: format_html(
        '<td><span class="badge status-{}">{}</span></td>', t.status, t.get_status_display()
    ),
    "priority": lambda t: format_html(
        '<td><span class="priority priority--{}">{}</span></td>',
        t.priority,
        t.get_priority_display(),
    ),
    "channel": lambda t: format_html("<td>{}</td>", t.get_channel_display()),
    "assignee": lambda t: format_html("<td>{}</td>", t.assignee.name if t.assignee else DASH),
    "team": lambda t: format_html("<td>{}</td>", t.team.name if t.team else DASH),
    "tags": _tags,
    "created_at": lambda t: _time(t.created_at),
    "updated_at": lambda t: _time(t.updated_at),
    "due_at": lambda t: _time(t.due_at, with_title=False),
}


def _prediction(label: TicketLabel | None) -> SafeString:
    """A triage label as on the ticket's panel; the title says how sure, or who set it."""
    if label is None:
        return format_html("<td>{}</td>", DASH)
    how = "set by an agent" if label.corrected else f"model, {label.confidence:.0%} sure"
    return format_html(
        '<td><span class="badge triage-label triage-label--{}" title="{}">{}</span></td>',
        slugify(label.label),
        how,
        display_label(label.label),
    )


def ticket_cells(
    ticket: Ticket,
    columns: Sequence[str],
    labels: Mapping[str, TicketLabel] | None = None,
) -> SafeString:
    """The ``<td>`` cells of one list row, in column order.

    ``labels``: the ticket's triage labels by kind (``ai.services.labels_for_tickets``),
    for the prediction columns.
    """
    cells = []
    for key in columns:
        if key in PREDICTION_COLUMNS:
            cells.append(_prediction((labels or {}).get(key)))
        elif key in CELLS:
            cells.append(CELLS[key](ticket))
    return mark_safe("".join(cells))  # noqa: S308 - every part comes from format_html
