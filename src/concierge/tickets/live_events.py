"""The real-time events ticket writes publish (called from ``tickets.actions``).

Which stream gets what is a security decision, so it is made here, in one
place (see ``concierge.core.events`` for the streams):

* ``staff`` — ``ticket.created`` / ``ticket.updated`` with the ticket's
  routing facts (status, priority, assignee, team) so the inbox can update
  and the sockets can filter per recipient without a query;
* ``ticket.<id>`` — every entry (internal notes and system events too) and
  every update, for the agents on the ticket page;
* ``ticket.<id>.public`` — public replies and status changes only, for the
  requester (portal, chat widget). Internal notes and system events never go
  there, and nothing about the agents beyond the reply author's name.

Each call stores its event in the current transaction; it reaches sockets
only after the commit (``core.events.publish``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from concierge.core.events import publish, publish_many
from concierge.tickets.models import Entry, EntryKind, Ticket

# Ticket properties a requester sees in the portal and widget.
PUBLIC_FIELDS = ("status",)
# Events are stored for replay and cross Redis: a long message (a forwarded
# email thread) travels as a reference, and clients fetch it.
EVENT_BODY_MAX_CHARS = 16_000


def ticket_facts(ticket: Ticket) -> dict[str, Any]:
    """Small, staff-visible facts about a ticket that every staff event carries."""
    return {
        "ticket_id": ticket.pk,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "channel": ticket.channel,
    }


def entry_data(entry: Entry) -> dict[str, Any]:
    """An entry as a live client renders it (body already sanitized at write time)."""
    if entry.author_user_id:
        author_type = "agent"
    elif entry.author_customer_id:
        author_type = "customer"
    else:
        author_type = "system"
    return {
        "entry_id": entry.pk,
        "ticket_id": entry.ticket_id,
        "kind": entry.kind,
        "author_type": author_type,
        "author_name": entry.author_name,
        # Avatars are served to staff only; public clients show initials.
        "author_avatar_url": "",
        "body_html": entry.body_html if len(entry.body_html) <= EVENT_BODY_MAX_CHARS else "",
        "body_truncated": len(entry.body_html) > EVENT_BODY_MAX_CHARS,
        "created_at": entry.created_at.isoformat(),
        "attachments": [
            {
                "id": attachment.pk,
                "filename": attachment.filename,
                "size": attachment.size,
                "content_type": attachment.content_type,
            }
            for attachment in entry.attachments.all()
        ],
    }


def publish_entry_created(entry: Entry) -> None:
    """A new entry: to the ticket's staff stream always, to the public one only if public."""
    data = entry_data(entry)
    # Staff pages tell their own entries from colleagues' (collision hints);
    # the requester's stream does not carry agents' account ids.
    staff_data = {**data, "author_user_id": entry.author_user_id}
    items = [(f"ticket.{entry.ticket_id}", "entry.created", staff_data)]
    if entry.kind == EntryKind.PUBLIC_REPLY:
        items.append((f"ticket.{entry.ticket_id}.public", "entry.created", data))
    publish_many(items)


def publish_ticket_created(ticket: Ticket) -> None:
    publish(
        stream="staff",
        kind="ticket.created",
        data={**ticket_facts(ticket), "subject": ticket.subject},
    )


def publish_ticket_updated(
    ticket: Ticket, fields: Iterable[str], extra: dict[str, Any] | None = None
) -> None:
    """Properties changed: the inbox, the ticket page and (status only) the requester."""
    changed = sorted(set(fields))
    if not changed:
        return
    data = {**ticket_facts(ticket), "fields": changed, **(extra or {})}
    items = [("staff", "ticket.updated", data), (f"ticket.{ticket.pk}", "ticket.updated", data)]
    public_changes = [field for field in changed if field in PUBLIC_FIELDS]
    if public_changes:
        public_data = {"ticket_id": ticket.pk, "fields": public_changes, "status": ticket.status}
        items.append((f"ticket.{ticket.pk}.public", "ticket.updated", public_data))
    publish_many(items)


def snapshot(ticket: Ticket) -> dict[str, Any]:
    """The scalar properties whose change ``ticket.updated`` reports."""
    return {
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id,
        "team": ticket.team_id,
        "due_at": ticket.due_at,
        "requester": ticket.requester_id,
        "custom_fields": dict(ticket.custom_fields),
        "merged_into": ticket.merged_into_id,
    }


def changed_fields(before: dict[str, Any], ticket: Ticket) -> list[str]:
    after = snapshot(ticket)
    return [field for field, value in before.items() if after[field] != value]
