"""The "ticket" and "customer" sources of the search index (articles: knowledge app).

A ticket is one document: its subject as title, the text of its public
replies as body, and the text of its internal notes as ``staff_body`` — a
separate field that searches by customers never read. Customers are
lexical-only documents for staff: name, emails / identities, organization.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch

from concierge.core import policy
from concierge.core.sanitize import plain_text
from concierge.search.documents import IndexDocument
from concierge.search.registry import register_source

MAX_TICKET_TEXT = 20_000  # characters per field: the start of a long thread is what matters


def _join_bounded(pieces: Iterable[str], limit: int) -> str:
    collected: list[str] = []
    size = 0
    for piece in pieces:
        if not piece:
            continue
        collected.append(piece)
        size += len(piece) + 1
        if size >= limit:
            break
    return "\n".join(collected)[:limit]


def load_tickets(ids: list[int]) -> dict[int, IndexDocument | None]:
    from concierge.tickets.models import Entry, EntryKind, Ticket

    tickets = (
        Ticket.objects.filter(pk__in=ids)
        .select_related("requester")
        .prefetch_related(
            "tags",
            Prefetch(
                "entries",
                queryset=Entry.objects.exclude(kind=EntryKind.SYSTEM_EVENT).only(
                    "id", "ticket_id", "kind", "body_html", "created_at", "metadata"
                ),
            ),
        )
    )
    documents: dict[int, IndexDocument | None] = dict.fromkeys(ids)
    for ticket in tickets:
        # A message hidden behind a content warning (abuse) stays out of the
        # index: search snippets would otherwise show agents what the ticket
        # page folds away.
        entries = [e for e in ticket.entries.all() if not (e.metadata or {}).get("content_warning")]
        public = [plain_text(e.body_html, limit=MAX_TICKET_TEXT) for e in entries if e.is_public]
        internal = [
            plain_text(e.body_html, limit=MAX_TICKET_TEXT) for e in entries if not e.is_public
        ]
        documents[ticket.pk] = IndexDocument(
            kind="ticket",
            object_id=ticket.pk,
            title=ticket.subject,
            body=_join_bounded(public, MAX_TICKET_TEXT),
            staff_body=_join_bounded(internal, MAX_TICKET_TEXT),
            audience="customer",
            customer_id=ticket.requester_id,
            organization_id=ticket.organization_id,
            tags=tuple(tag.name for tag in ticket.tags.all()),
            extra={
                "status": ticket.status,
                "priority": ticket.priority,
                "requester_name": ticket.requester.name,
                "updated_at": ticket.updated_at.isoformat(),
            },
        )
    return documents


def all_ticket_ids() -> Iterable[int]:
    from concierge.tickets.models import Ticket

    return Ticket.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=2000)


def visible_ticket_ids(user: Any, ids: list[int]) -> set[int]:
    from concierge.tickets.models import Ticket

    queryset = policy.visible_tickets(user, Ticket.objects.filter(pk__in=ids))
    return set(queryset.values_list("pk", flat=True))


def load_customers(ids: list[int]) -> dict[int, IndexDocument | None]:
    from concierge.customers.models import Customer

    customers = (
        Customer.objects.filter(pk__in=ids, merged_into__isnull=True)
        .select_related("organization")
        .prefetch_related("identities", "tags")
    )
    documents: dict[int, IndexDocument | None] = dict.fromkeys(ids)
    for customer in customers:
        identities = [identity.value for identity in customer.identities.all()]
        organization = customer.organization.name if customer.organization else ""
        documents[customer.pk] = IndexDocument(
            kind="customer",
            object_id=customer.pk,
            title=customer.name,
            body=" ".join([*identities, organization]),
            staff_body=customer.notes[:MAX_TICKET_TEXT],
            audience="staff",
            organization_id=customer.organization_id,
            tags=tuple(tag.name for tag in customer.tags.all()),
            extra={"email": customer.primary_email, "organization": organization},
        )
    return documents


def all_customer_ids() -> Iterable[int]:
    from concierge.customers.models import Customer

    return (
        Customer.objects.filter(merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .iterator(chunk_size=2000)
    )


def visible_customer_ids(user: Any, ids: list[int]) -> set[int]:
    from concierge.customers.models import Customer

    return {
        customer.pk
        for customer in Customer.objects.filter(pk__in=ids)
        if policy.can_view_customer(user, customer)
    }


def register() -> None:
    register_source("ticket", load_tickets, all_ticket_ids, visible_ticket_ids)
    register_source("customer", load_customers, all_customer_ids, visible_customer_ids)
