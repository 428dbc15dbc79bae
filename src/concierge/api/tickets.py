"""Tickets, their conversation, audit trail, merges and attachments."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from django.http import FileResponse, HttpRequest, HttpResponse
from ninja import Field, Header, Query, Router, Schema
from pydantic import AwareDatetime

from concierge.accounts.models import Team, User
from concierge.accounts.services import get_agent, list_teams
from concierge.api.auth import current_user
from concierge.api.idempotency import HEADER_DESCRIPTION, idempotent_create
from concierge.api.schemas import (
    ERRORS,
    AuditEventOut,
    EntryOut,
    TicketOut,
    TicketPage,
    dump,
)
from concierge.core import policy
from concierge.core.errors import NotFound, ValidationFailed
from concierge.customers.actions import find_or_create_customer_by_email
from concierge.customers.models import Customer
from concierge.customers.services import get_customer
from concierge.tickets import actions, services
from concierge.tickets.models import Channel

router = Router(tags=["tickets"])
attachments_router = Router(tags=["tickets"])

ENTRY_PAGE_MAX = 200
IdempotencyKey = Header(None, alias="Idempotency-Key", description=HEADER_DESCRIPTION)


# --- input shapes ------------------------------------------------------------


class AttachmentIn(Schema):
    """A file sent inline: its content base64-encoded (the whole request is at most 5 MB)."""

    filename: str = Field(..., min_length=1, max_length=255)
    content_type: str = Field("", max_length=127)
    data: str = Field(..., description="The file's bytes, base64-encoded (RFC 4648).")


class RequesterIn(Schema):
    """An existing customer by ``id``, or one found (or created) by ``email``."""

    id: int | None = None
    email: str | None = Field(None, max_length=320)
    name: str = Field("", max_length=200)


class TicketCreateIn(Schema):
    subject: str
    body: str = Field(..., description="The first message, in Markdown.")
    requester: RequesterIn | None = Field(
        None, description="Required for agents; a customer always opens tickets for themselves."
    )
    priority: str = "normal"
    status: str | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    ccs: list[int] = Field(default_factory=list, max_length=50, description="Customer ids.")
    due_at: AwareDatetime | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)


class TicketUpdateIn(Schema):
    """Only the fields sent change; ``null`` clears assignee, team and due date."""

    subject: str | None = None
    status: str | None = None
    priority: str | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    requester_id: int | None = None
    due_at: AwareDatetime | None = None
    tags: list[str] | None = Field(None, max_length=50, description="Replaces every tag.")
    add_tags: list[str] | None = Field(None, max_length=50)
    remove_tags: list[str] | None = Field(None, max_length=50)
    custom_fields: dict[str, Any] | None = None
    ccs: list[int] | None = Field(None, max_length=50, description="Customer ids; replaces all.")


class TicketListQuery(Schema):
    status: str | None = Field(
        None, description="Comma-separated: new, open, pending, on_hold, solved, closed, unsolved."
    )
    priority: str | None = Field(None, description="Comma-separated: low, normal, high, urgent.")
    channel: str | None = Field(None, description="Comma-separated channels.")
    assignee: str | None = Field(None, description="An agent id, 'me' or 'none'.")
    team: str | None = Field(None, description="A team id, 'mine' or 'none'.")
    requester: int | None = Field(None, description="A customer id.")
    organization: int | None = Field(None, description="An organization id.")
    tags: str | None = Field(None, description="Comma-separated; a ticket must carry all.")
    q: str | None = Field(None, description="Ticket number or text.")
    created_after: str | None = Field(None, description="ISO 8601 date-time.")
    created_before: str | None = Field(None, description="ISO 8601 date-time.")
    updated_after: str | None = Field(None, description="ISO 8601 date-time.")
    sort: Literal["-updated_at", "updated_at", "-created_at", "created_at"] = "-updated_at"
    cursor: str = Field("", description="next_cursor or previous_cursor of a previous page.")
    page_size: int = Field(services.DEFAULT_PAGE_SIZE, ge=1, le=services.MAX_PAGE_SIZE)


class MergeIn(Schema):
    source_ids: list[int] = Field(
        ..., min_length=1, max_length=50, description="Tickets merged into this one and closed."
    )


class EntryCreateIn(Schema):
    kind: Literal["reply", "note"] = "reply"
    body: str = Field("", description="Markdown; may be empty when files are attached.")
    status_after: str | None = Field(None, description="Status to set after replying (agents).")
    attachments: list[AttachmentIn] = Field(default_factory=list)


class EntryPage(Schema):
    items: list[EntryOut]
    next_offset: int | None


# --- resolving references ------------------------------------------------------


def _decode_attachments(attachments: list[AttachmentIn]) -> list[actions.NewAttachment]:
    decoded = []
    for index, attachment in enumerate(attachments):
        try:
            content = base64.b64decode(attachment.data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationFailed(
                f"{attachment.filename}: the data is not valid base64.",
                field_errors={f"attachments.{index}.data": ["Not valid base64."]},
            ) from error
        decoded.append(
            actions.NewAttachment(
                filename=attachment.filename, content=content, content_type=attachment.content_type
            )
        )
    return decoded


def _agent(user: Any, agent_id: int | None, field: str) -> User | None:
    if agent_id is None:
        return None
    try:
        return get_agent(user=user, agent_id=agent_id)
    except NotFound as error:
        raise ValidationFailed(
            "No such agent.", field_errors={field: ["No such agent."]}
        ) from error


def _team(user: Any, team_id: int | None, field: str) -> Team | None:
    if team_id is None:
        return None
    team = list_teams(user=user).filter(pk=team_id).first()
    if team is None:
        raise ValidationFailed("No such team.", field_errors={field: ["No such team."]})
    return team


def _customer(user: Any, customer_id: int, field: str) -> Customer:
    try:
        return get_customer(user=user, customer_id=customer_id)
    except NotFound as error:
        raise ValidationFailed(
            "No such customer.", field_errors={field: ["No such customer."]}
        ) from error


def _requester(user: Any, requester: RequesterIn | None) -> Customer:
    if requester is None:
        own = policy.customer_of(user)
        if own is None:
            raise ValidationFailed(
                "Say who the ticket is for.", field_errors={"requester": ["Required."]}
            )
        return own
    if requester.id is not None:
        return _customer(user, requester.id, "requester.id")
    if requester.email:
        # Runs inside the request's transaction: if the ticket is then refused,
        # the customer created here is rolled back with it.
        return find_or_create_customer_by_email(email=requester.email, name=requester.name)
    raise ValidationFailed(
        "Give the requester's id or email.", field_errors={"requester": ["Give an id or an email."]}
    )


def _update_changes(user: Any, payload: TicketUpdateIn) -> dict[str, Any]:
    sent = payload.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    for name in ("subject", "status", "priority"):
        if name in sent:
            if sent[name] is None:
                raise ValidationFailed(
                    f"{name} cannot be null.", field_errors={name: ["Required."]}
                )
            changes[name] = sent[name]
    if "due_at" in sent:
        changes["due_at"] = sent["due_at"]
    for name in ("tags", "add_tags", "remove_tags"):
        if name in sent:
            changes[name] = sent[name] or []
    if "custom_fields" in sent:
        changes["custom_fields"] = sent["custom_fields"] or {}
    if "assignee_id" in sent:
        changes["assignee"] = _agent(user, sent["assignee_id"], "assignee_id")
    if "team_id" in sent:
        changes["team"] = _team(user, sent["team_id"], "team_id")
    if "requester_id" in sent:
        if sent["requester_id"] is None:
            raise ValidationFailed(
                "A ticket needs a requester.", field_errors={"requester_id": ["Required."]}
            )
        changes["requester"] = _customer(user, sent["requester_id"], "requester_id")
    if "ccs" in sent:
        changes["ccs"] = [_customer(user, pk, "ccs") for pk in sent["ccs"] or []]
    return changes


# --- tickets -------------------------------------------------------------------


@router.get("", response={200: TicketPage, **ERRORS}, summary="List tickets")
def list_tickets(request: HttpRequest, filters: Query[TicketListQuery]) -> dict[str, Any]:
    """Tickets the caller may see, newest activity first, one page per request.

    Walk the list with ``cursor``: pass ``next_cursor`` (or ``previous_cursor``)
    of the page you have; a cursor stays valid while tickets change.
    """
    query = filters.model_dump(exclude={"sort", "cursor", "page_size"}, exclude_none=True)
    page = services.list_tickets(
        user=current_user(request),
        filters=services.TicketFilters.from_dict(query),
        sort=filters.sort,
        cursor=filters.cursor,
        page_size=filters.page_size,
    )
    return {
        "items": page.tickets,
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
    }


@router.post("", response={201: TicketOut, **ERRORS}, summary="Create a ticket")
def create_ticket(
    request: HttpRequest, payload: TicketCreateIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """Opens a ticket with its first message, written as the requester.

    Attachments travel inline as base64 (``attachments[].data``).
    """
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        ticket = actions.create_ticket(
            actor=user,
            requester=_requester(user, payload.requester),
            subject=payload.subject,
            body=payload.body,
            channel=Channel.API,
            priority=payload.priority,
            status=payload.status,
            ccs=[_customer(user, pk, "ccs") for pk in payload.ccs],
            assignee=_agent(user, payload.assignee_id, "assignee_id"),
            team=_team(user, payload.team_id, "team_id"),
            tags=payload.tags,
            custom_fields=payload.custom_fields,
            due_at=payload.due_at,
            attachments=_decode_attachments(payload.attachments),
        )
        fresh = services.get_ticket(user=user, ticket_id=ticket.pk)
        return 201, dump(TicketOut, fresh, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get("/{int:ticket_id}", response={200: TicketOut, **ERRORS}, summary="Get a ticket")
def get_ticket(request: HttpRequest, ticket_id: int) -> Any:
    return services.get_ticket(user=current_user(request), ticket_id=ticket_id)


@router.patch("/{int:ticket_id}", response={200: TicketOut, **ERRORS}, summary="Update a ticket")
def update_ticket(request: HttpRequest, ticket_id: int, payload: TicketUpdateIn) -> Any:
    """Changes properties; every real change lands in the audit trail."""
    user = current_user(request)
    ticket = services.get_ticket(user=user, ticket_id=ticket_id)
    actions.update_ticket(
        actor=user, ticket=ticket, changes=_update_changes(user, payload), via=Channel.API
    )
    return services.get_ticket(user=user, ticket_id=ticket_id)


@router.post(
    "/{int:ticket_id}/merge", response={200: TicketOut, **ERRORS}, summary="Merge tickets into this"
)
def merge_tickets(
    request: HttpRequest,
    ticket_id: int,
    payload: MergeIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Moves the conversations of ``source_ids`` into this ticket and closes them."""
    user = current_user(request)

    def merge() -> tuple[int, dict[str, Any]]:
        target = services.get_ticket(user=user, ticket_id=ticket_id)
        sources = [services.get_ticket(user=user, ticket_id=pk) for pk in payload.source_ids]
        actions.merge_tickets(actor=user, sources=sources, target=target)
        return 200, dump(TicketOut, services.get_ticket(user=user, ticket_id=ticket_id), request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=merge)


# --- conversation and history ------------------------------------------------------


@router.get("/{int:ticket_id}/entries", response={200: EntryPage, **ERRORS}, summary="List entries")
def list_entries(
    request: HttpRequest,
    ticket_id: int,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=ENTRY_PAGE_MAX),
) -> dict[str, Any]:
    """The conversation, oldest first; customers get public replies only."""
    user = current_user(request)
    ticket = services.get_ticket(user=user, ticket_id=ticket_id)
    rows = list(services.visible_entries(user=user, ticket=ticket)[offset : offset + limit + 1])
    return {"items": rows[:limit], "next_offset": offset + limit if len(rows) > limit else None}


@router.post(
    "/{int:ticket_id}/entries", response={201: EntryOut, **ERRORS}, summary="Reply or add a note"
)
def create_entry(
    request: HttpRequest,
    ticket_id: int,
    payload: EntryCreateIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """A public reply (``kind: reply``) or an internal note (``kind: note``, staff only).

    Attachments travel inline as base64 (``attachments[].data``).
    """
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        ticket = services.get_ticket(user=user, ticket_id=ticket_id)
        entry = actions.add_entry(
            actor=user,
            ticket=ticket,
            body=payload.body,
            kind=payload.kind,
            channel=Channel.API,
            attachments=_decode_attachments(payload.attachments),
            status_after=payload.status_after,
        )
        fresh = services.visible_entries(user=user, ticket=ticket).get(pk=entry.pk)
        return 201, dump(EntryOut, fresh, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get(
    "/{int:ticket_id}/audit", response={200: list[AuditEventOut], **ERRORS}, summary="Audit trail"
)
def audit_trail(request: HttpRequest, ticket_id: int) -> Any:
    """Every change to the ticket: field, before, after, who and through what (staff only)."""
    user = current_user(request)
    ticket = services.get_ticket(user=user, ticket_id=ticket_id)
    return services.audit_trail(user=user, ticket=ticket)


@attachments_router.get(
    "/{int:attachment_id}",
    response=ERRORS,
    summary="Download an attachment",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as a download.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def download_attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    attachment = services.get_attachment(user=current_user(request), attachment_id=attachment_id)
    response = FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.filename
    )
    # Always a download, never rendered: an uploaded file must not run on our origin.
    response["Content-Type"] = "application/octet-stream"
    return response
