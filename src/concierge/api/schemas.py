"""Shapes shared by several routers: errors, references and the main resources.

Output schemas read ORM objects that services fetched with their related
rows (``select_related`` / ``prefetch_related``); a resolver here must not
run a query per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from concierge.core import policy
from concierge.tickets.services import readable_custom_field_keys

# Statuses every route may answer with besides its success; documented for clients.
ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 422, 500})


class ErrorOut(Schema):
    code: str
    message: str
    field_errors: dict[str, list[str]]


ERRORS: dict[Any, Any] = {ERROR_STATUSES: ErrorOut}


def request_user(context: dict[str, Any] | None) -> Any:
    request = (context or {}).get("request")
    return getattr(request, "auth", None)


def readable_custom_fields(
    context: dict[str, Any] | None, values: dict[str, Any]
) -> dict[str, Any]:
    """The ticket's custom field values the caller may read (asked once per request)."""
    request = (context or {}).get("request")
    if request is None:
        return {}
    if not hasattr(request, "_readable_custom_field_keys"):
        request._readable_custom_field_keys = readable_custom_field_keys(user=request.auth)
    keys: set[str] | None = request._readable_custom_field_keys
    if keys is None:
        return dict(values)
    return {key: value for key, value in values.items() if key in keys}


# --- references ------------------------------------------------------------


class AgentRef(Schema):
    id: int
    name: str


class TeamRef(Schema):
    id: int
    name: str


class CustomerRef(Schema):
    id: int
    name: str


class OrganizationRef(Schema):
    id: int
    name: str


class AuthorOut(Schema):
    """Who wrote or changed something: an agent, a customer, or the system itself."""

    type: str  # "agent", "customer" or "system"
    id: int | None
    name: str


def author_of(user: Any, customer: Any) -> AuthorOut:
    if user is not None:
        return AuthorOut(type="agent", id=user.pk, name=user.name)
    if customer is not None:
        return AuthorOut(type="customer", id=customer.pk, name=customer.name)
    return AuthorOut(type="system", id=None, name="System")


# --- tickets ---------------------------------------------------------------


class TicketOut(Schema):
    id: int
    subject: str
    status: str
    priority: str
    channel: str
    requester: CustomerRef
    organization: OrganizationRef | None
    assignee: AgentRef | None
    team: TeamRef | None
    tags: list[str]
    custom_fields: dict[str, Any]
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None
    merged_into_id: int | None
    follow_up_of_id: int | None

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return [tag.name for tag in obj.tags.all()]

    @staticmethod
    def resolve_custom_fields(obj: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return readable_custom_fields(context, obj.custom_fields or {})


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None
    previous_cursor: str | None


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int


class EntryOut(Schema):
    id: int
    ticket_id: int
    kind: str  # "reply", "note" or "event"
    author: AuthorOut
    body_source: str
    body_html: str
    channel: str
    attachments: list[AttachmentOut]
    created_at: datetime

    @staticmethod
    def resolve_author(obj: Any) -> AuthorOut:
        return author_of(obj.author_user, obj.author_customer)

    @staticmethod
    def resolve_attachments(obj: Any) -> list[Any]:
        return list(obj.attachments.all())


class AuditEventOut(Schema):
    id: int
    field: str
    before: str
    after: str
    actor: AuthorOut
    via: str
    created_at: datetime

    @staticmethod
    def resolve_actor(obj: Any) -> AuthorOut:
        return author_of(obj.actor, obj.actor_customer)


# --- customers and organizations --------------------------------------------


class IdentityOut(Schema):
    kind: str
    value: str
    is_primary: bool


class CustomerOut(Schema):
    id: int
    name: str
    email: str
    identities: list[IdentityOut]
    organization: OrganizationRef | None
    language: str
    time_zone: str
    tags: list[str]
    custom_attributes: dict[str, Any]
    notes: str
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_email(obj: Any) -> str:
        return str(obj.primary_email)

    @staticmethod
    def resolve_identities(obj: Any) -> list[Any]:
        return list(obj.identities.all())

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return [tag.name for tag in obj.tags.all()]

    @staticmethod
    def resolve_notes(obj: Any, context: dict[str, Any] | None = None) -> str:
        # Notes about a customer are the team's, not the customer's.
        return str(obj.notes) if policy.can_view_internal_notes(request_user(context)) else ""


class OrganizationOut(Schema):
    id: int
    name: str
    domains: list[str]
    notes: str
    custom_attributes: dict[str, Any]
    members_see_all_requests: bool
    customer_count: int | None = None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_notes(obj: Any, context: dict[str, Any] | None = None) -> str:
        return str(obj.notes) if policy.can_view_internal_notes(request_user(context)) else ""

    @staticmethod
    def resolve_customer_count(obj: Any) -> int | None:
        return getattr(obj, "customer_count", None)


# --- desk configuration ---------------------------------------------------


class AgentOut(Schema):
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    availability: str
    capacity: int
    teams: list[TeamRef]
    last_seen_at: datetime | None

    @staticmethod
    def resolve_teams(obj: Any) -> list[Any]:
        return list(obj.teams.all())


class TeamOut(Schema):
    id: int
    name: str
    description: str
    members: list[AgentRef]

    @staticmethod
    def resolve_members(obj: Any) -> list[Any]:
        return list(obj.members.all())


class TagOut(Schema):
    name: str
    ticket_count: int


class CustomFieldOut(Schema):
    id: int
    key: str
    label: str
    field_type: str
    choices: list[str]
    is_required_on_solve: bool
    is_customer_visible: bool
    is_active: bool
    position: int
    description: str
    detect_from_messages: bool = Field(
        False,
        description="AI triage fills the field (dropdowns and multi-selects, when empty) with "
        "the options a customer's message names.",
    )
    detection_phrases: dict[str, list[str]] = Field(
        default_factory=dict, description="Option -> extra phrases that mean it."
    )


class SavedViewOut(Schema):
    id: int
    name: str
    is_shared: bool
    owner_id: int | None
    filters: dict[str, Any]
    sort: str
    columns: list[str]
    position: int

    @staticmethod
    def resolve_is_shared(obj: Any) -> bool:
        return obj.owner_id is None


def dump(schema: type[Schema], obj: Any, request: Any) -> dict[str, Any]:
    """Serializes ``obj`` as ``schema`` (JSON-ready), e.g. to store an idempotent response."""
    result: dict[str, Any] = schema.model_validate(obj, context={"request": request}).model_dump(
        mode="json"
    )
    return result
