"""Reads of tickets, each taking the acting user and applying the access policy.

Lists use keyset pagination on (updated_at, id) so page 5,000 costs what page
1 costs; counts are cached briefly because an inbox shows them on every load.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import InvalidOperation
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from concierge.core import policy
from concierge.core.errors import NotFound, ValidationFailed
from concierge.tickets.models import (
    SPAM_TAG,
    UNSOLVED_STATUSES,
    Attachment,
    AuditEvent,
    CustomField,
    Entry,
    EntryKind,
    FieldType,
    SavedView,
    Status,
    Ticket,
)

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
COUNT_CACHE_SECONDS = 15

# Columns a list or saved view may show, in display order.
AVAILABLE_COLUMNS = {
    "number": "#",
    "subject": "Subject",
    "requester": "Requester",
    "organization": "Organization",
    "status": "Status",
    "priority": "Priority",
    "channel": "Channel",
    "assignee": "Assignee",
    "team": "Team",
    "tags": "Tags",
    # AI triage: the ticket's latest prediction of that kind, an agent's correction
    # winning (concierge.ai.services.labels_for_tickets).
    "intent": "Intent",
    "sentiment": "Sentiment",
    "urgency": "Urgency",
    "language": "Language",
    "created_at": "Created",
    "updated_at": "Updated",
    "due_at": "Due",
}
# The columns that show a triage prediction of the kind of the same name.
PREDICTION_COLUMNS = ("intent", "sentiment", "urgency", "language")
DEFAULT_COLUMNS = ["number", "subject", "requester", "status", "priority", "assignee", "updated_at"]
SORTS = {
    "-updated_at": ("-updated_at", "-id"),
    "updated_at": ("updated_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "created_at": ("created_at", "id"),
}


def base_ticket_queryset() -> QuerySet[Ticket]:
    """Tickets with what a list row shows, fetched in a fixed number of queries."""
    return Ticket.objects.select_related(
        "requester", "organization", "assignee", "team"
    ).prefetch_related("tags")


def get_ticket(*, user: Any, ticket_id: int) -> Ticket:
    """Gets a ticket the user may see, or NotFound."""
    ticket = (
        base_ticket_queryset()
        .select_related("merged_into", "follow_up_of")
        .filter(pk=ticket_id)
        .first()
    )
    return policy.require_ticket_visible(user, ticket)


def visible_entries(*, user: Any, ticket: Ticket) -> QuerySet[Entry]:
    """The conversation the user may read: customers never see internal notes."""
    entries = (
        Entry.objects.filter(ticket=ticket)
        .select_related("author_user", "author_customer")
        .prefetch_related("attachments")
    )
    if not policy.can_view_internal_notes(user):
        entries = entries.filter(kind=EntryKind.PUBLIC_REPLY)
    return entries.order_by("created_at", "id")


def audit_trail(*, user: Any, ticket: Ticket) -> QuerySet[AuditEvent]:
    policy.require(policy.is_staff(user), "Only agents see the audit trail.")
    return (
        AuditEvent.objects.filter(ticket=ticket)
        .select_related("actor", "actor_customer")
        .order_by("created_at", "id")
    )


def requester_history(*, user: Any, ticket: Ticket, limit: int = 10) -> list[Ticket]:
    """The requester's other tickets, newest first (agents only)."""
    if not policy.is_staff(user):
        return []
    return list(
        Ticket.objects.filter(requester_id=ticket.requester_id)
        .exclude(pk=ticket.pk)
        .order_by("-created_at")[:limit]
    )


# --- filtering -------------------------------------------------------------


@dataclass
class TicketFilters:
    """What a view or an API list filters on. Empty fields filter nothing."""

    statuses: list[str] = field(default_factory=list)
    priorities: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    assignee: str = ""  # an agent id, "me" or "none"
    team: str = ""  # a team id, "mine" or "none"
    requester_id: int | None = None
    participant_id: int | None = None  # a customer who is the requester or a CC
    organization_id: int | None = None
    tags: list[str] = field(default_factory=list)  # all must be present
    exclude_tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    text: str = ""
    # AI triage: kind -> label ("intent": "billing"); the latest prediction of that kind,
    # with an agent's correction winning (concierge.ai.services.filter_by_predictions).
    predictions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicketFilters:
        """Builds filters from a saved view's JSON or query parameters; rejects unknown values."""

        def as_list(value: Any) -> list[str]:
            if value in (None, ""):
                return []
            if isinstance(value, str):
                return [part for part in value.split(",") if part]
            return [str(part) for part in value]

        filters = cls(
            statuses=as_list(data.get("status")),
            priorities=as_list(data.get("priority")),
            channels=as_list(data.get("channel")),
            assignee=str(data.get("assignee") or ""),
            team=str(data.get("team") or ""),
            requester_id=_optional_int(data.get("requester"), "requester"),
            participant_id=_optional_int(data.get("participant"), "participant"),
            organization_id=_optional_int(data.get("organization"), "organization"),
            tags=as_list(data.get("tags")),
            exclude_tags=as_list(data.get("exclude_tags")),
            custom_fields=dict(data.get("custom_fields") or {}),
            created_after=_optional_datetime(data.get("created_after"), "created_after"),
            created_before=_optional_datetime(data.get("created_before"), "created_before"),
            updated_after=_optional_datetime(data.get("updated_after"), "updated_after"),
            text=str(data.get("q") or "")[:200],
            predictions=_prediction_filters(data),
        )
        errors: dict[str, list[str]] = {}
        if bad := set(filters.predictions) - set(PREDICTION_FILTER_KINDS):
            errors["predictions"] = [f"Unknown prediction kind: {', '.join(sorted(bad))}."]
        if bad := set(filters.statuses) - set(Status.values) - {"unsolved"}:
            errors["status"] = [f"Unknown: {', '.join(sorted(bad))}."]
        from concierge.tickets.models import Channel, Priority

        if bad := set(filters.priorities) - set(Priority.values):
            errors["priority"] = [f"Unknown: {', '.join(sorted(bad))}."]
        if bad := set(filters.channels) - set(Channel.values):
            errors["channel"] = [f"Unknown: {', '.join(sorted(bad))}."]
        if filters.assignee not in ("", "me", "none") and not filters.assignee.isdigit():
            errors["assignee"] = ["Use an agent id, 'me' or 'none'."]
        if filters.team not in ("", "mine", "none") and not filters.team.isdigit():
            errors["team"] = ["Use a team id, 'mine' or 'none'."]
        if errors:
            raise ValidationFailed("Invalid filters.", field_errors=errors)
        return filters

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, value in (
            ("status", self.statuses), ("priority", self.priorities), ("channel", self.channels),
            ("assignee", self.assignee), ("team", self.team), ("requester", self.requester_id),
            ("organization", self.organization_id), ("tags", self.tags),
            ("exclude_tags", self.exclude_tags), ("custom_fields", self.custom_fields),
            ("predictions", self.predictions),
        ):  # fmt: skip
            if value:
                data[name] = value
        return data


PREDICTION_FILTER_KINDS = ("language", "sentiment", "intent", "urgency", "abuse", "spam")


def _prediction_filters(data: dict[str, Any]) -> dict[str, str]:
    """``{"predictions": {"intent": "billing"}}`` (saved views) or ``prediction_intent=billing``."""
    given = data.get("predictions") or {}
    predictions = (
        {str(k): str(v)[:100] for k, v in given.items() if v} if isinstance(given, dict) else {}
    )
    for kind in PREDICTION_FILTER_KINDS:
        value = data.get(f"prediction_{kind}")
        if value:
            predictions[kind] = str(value)[:100]
    return predictions


def _optional_int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            f"{name} must be a number.", field_errors={name: ["Not a number."]}
        ) from error


def _optional_datetime(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 date-time.", field_errors={name: ["Invalid date-time."]}
        ) from error
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def apply_filters(
    queryset: QuerySet[Ticket], filters: TicketFilters, *, user: Any
) -> QuerySet[Ticket]:
    statuses = list(filters.statuses)
    if "unsolved" in statuses:
        statuses = [s for s in statuses if s != "unsolved"] + list(UNSOLVED_STATUSES)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if filters.priorities:
        queryset = queryset.filter(priority__in=filters.priorities)
    if filters.channels:
        queryset = queryset.filter(channel__in=filters.channels)
    if filters.assignee == "me":
        queryset = queryset.filter(assignee_id=getattr(user, "pk", None))
    elif filters.assignee == "none":
        queryset = queryset.filter(assignee__isnull=True)
    elif filters.assignee:
        queryset = queryset.filter(assignee_id=int(filters.assignee))
    if filters.team == "mine":
        queryset = queryset.filter(team__in=user.teams.all() if policy.is_staff(user) else [])
    elif filters.team == "none":
        queryset = queryset.filter(team__isnull=True)
    elif filters.team:
        queryset = queryset.filter(team_id=int(filters.team))
    if filters.requester_id:
        queryset = queryset.filter(requester_id=filters.requester_id)
    if filters.participant_id:
        queryset = queryset.filter(
            Q(requester_id=filters.participant_id)
            | Q(
                pk__in=Ticket.ccs.through.objects.filter(customer_id=filters.participant_id).values(
                    "ticket_id"
                )
            )
        )
    if filters.organization_id:
        queryset = queryset.filter(organization_id=filters.organization_id)
    for tag in filters.tags:
        queryset = queryset.filter(
            pk__in=Ticket.tags.through.objects.filter(tag__name=tag.lower()).values("ticket_id")
        )
    if filters.exclude_tags:
        queryset = queryset.exclude(
            pk__in=Ticket.tags.through.objects.filter(
                tag__name__in=[t.lower() for t in filters.exclude_tags]
            ).values("ticket_id")
        )
    if filters.custom_fields:
        known = {f.key: f for f in CustomField.objects.filter(key__in=list(filters.custom_fields))}
        for key, value in filters.custom_fields.items():
            if key not in known:
                raise ValidationFailed(
                    f"Unknown custom field {key!r}.",
                    field_errors={"custom_fields": [f"Unknown field {key}."]},
                )
            custom_field = known[key]
            try:
                # Typed as stored ("3" from a query string matches the number 3).
                typed = custom_field.coerce(value)
            except (ValueError, InvalidOperation) as error:
                raise ValidationFailed(
                    f"Invalid value for {custom_field.label}.",
                    field_errors={
                        "custom_fields": [f"{custom_field.label}: {error or 'Invalid value.'}"]
                    },
                ) from error
            if custom_field.field_type == FieldType.MULTI_SELECT:
                # Every chosen option must be among the ticket's options. JSON
                # containment is PostgreSQL-only; elsewhere match the quoted item
                # inside the stored JSON array text.
                for option in typed:
                    if connection.vendor == "postgresql":
                        queryset = queryset.filter(**{f"custom_fields__{key}__contains": [option]})
                    else:
                        queryset = queryset.filter(
                            **{f"custom_fields__{key}__icontains": json.dumps(option)}
                        )
            else:
                queryset = queryset.filter(**{f"custom_fields__{key}": typed})
    if filters.created_after:
        queryset = queryset.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    if filters.updated_after:
        queryset = queryset.filter(updated_at__gte=filters.updated_after)
    if filters.text:
        queryset = queryset.filter(search_condition(filters.text))
    if filters.predictions:
        from concierge.ai.services import filter_by_predictions  # the AI domain owns predictions

        queryset = filter_by_predictions(queryset, filters.predictions)
    return queryset


def search_condition(text: str) -> Q:
    """A first search: ticket number, subject, entry text, requester name or email.

    Plain substring matching; the search issue replaces it with a full-text
    and semantic index.
    """
    text = text.strip()
    if text.lstrip("#").isdigit():
        return Q(pk=int(text.lstrip("#")))
    return (
        Q(subject__icontains=text)
        | Q(requester__name__icontains=text)
        | Q(requester__identities__value__icontains=text)
        | Q(pk__in=Entry.objects.filter(body_source__icontains=text).values("ticket_id"))
    )


# --- pagination ------------------------------------------------------------


@dataclass
class Page:
    tickets: list[Ticket]
    next_cursor: str | None
    previous_cursor: str | None


def _encode_cursor(ticket: Ticket, sort: str, direction: str) -> str:
    field_name = SORTS[sort][0].lstrip("-")
    value = getattr(ticket, field_name)
    payload = json.dumps({"v": value.isoformat(), "id": ticket.pk, "d": direction})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        data["v"] = datetime.fromisoformat(data["v"])
        data["id"] = int(data["id"])
        if data.get("d") not in ("next", "prev"):
            raise ValueError("direction")
        return data
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as error:
        raise ValidationFailed(
            "Invalid cursor.", field_errors={"cursor": ["Invalid cursor."]}
        ) from error


def paginate(
    queryset: QuerySet[Ticket],
    *,
    sort: str = "-updated_at",
    cursor: str = "",
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page:
    """One page of ``queryset`` after (or before) ``cursor``, by keyset on (sort field, id)."""
    if sort not in SORTS:
        raise ValidationFailed(
            f"Unknown sort {sort!r}.", field_errors={"sort": [f"Use one of: {', '.join(SORTS)}."]}
        )
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    order: tuple[str, ...] = SORTS[sort]
    field_name = order[0].lstrip("-")
    descending = order[0].startswith("-")
    direction = "next"
    if cursor:
        position = _decode_cursor(cursor)
        direction = position["d"]
        forward = direction == "next"
        # Moving forward in a descending list means smaller values, and so on.
        smaller = descending == forward
        op = "lt" if smaller else "gt"
        queryset = queryset.filter(
            Q(**{f"{field_name}__{op}": position["v"]})
            | Q(**{field_name: position["v"], f"id__{op}": position["id"]})
        )
        if not forward:
            order = tuple(o[1:] if o.startswith("-") else "-" + o for o in order)
    rows = list(queryset.order_by(*order)[: page_size + 1])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if direction == "prev":
        rows.reverse()
        next_cursor = _encode_cursor(rows[-1], sort, "next") if rows else None
        previous_cursor = _encode_cursor(rows[0], sort, "prev") if rows and has_more else None
    else:
        next_cursor = _encode_cursor(rows[-1], sort, "next") if rows and has_more else None
        previous_cursor = _encode_cursor(rows[0], sort, "prev") if rows and cursor else None
    return Page(tickets=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


def list_tickets(
    *,
    user: Any,
    filters: TicketFilters,
    sort: str = "-updated_at",
    cursor: str = "",
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page:
    """Lists the tickets the user may see that match ``filters``."""
    queryset = policy.visible_tickets(user, base_ticket_queryset())
    return paginate(
        apply_filters(queryset, filters, user=user), sort=sort, cursor=cursor, page_size=page_size
    )


def count_tickets(*, user: Any, filters: TicketFilters) -> int:
    queryset = policy.visible_tickets(user, Ticket.objects.all())
    return apply_filters(queryset, filters, user=user).count()


# --- inbox views -----------------------------------------------------------


@dataclass(frozen=True)
class InboxView:
    slug: str
    name: str
    filters: dict[str, Any]
    sort: str = "-updated_at"
    columns: tuple[str, ...] = tuple(DEFAULT_COLUMNS)
    saved_view: SavedView | None = None  # None for the built-in views

    def is_owned_by(self, user: Any) -> bool:
        """A personal view of ``user`` (not a built-in or shared one)."""
        return self.saved_view is not None and self.saved_view.owner_id == getattr(user, "pk", None)


# Channels tag what they judge to be spam (mail: the receiving server's verdict).
# The working views leave it out so nobody answers it by accident; "Spam" lists
# it for a human to confirm (remove the tag) or solve.
NOT_SPAM = {"exclude_tags": [SPAM_TAG]}

BUILT_IN_VIEWS = (
    InboxView("my-open", "My open", {"assignee": "me", "status": ["new", "open"], **NOT_SPAM}),
    InboxView("unassigned", "Unassigned", {"assignee": "none", "status": ["unsolved"], **NOT_SPAM}),
    InboxView("my-teams", "My teams", {"team": "mine", "status": ["unsolved"], **NOT_SPAM}),
    InboxView("all-open", "All open", {"status": ["new", "open"], **NOT_SPAM}),
    InboxView("pending", "Pending", {"status": ["pending", "on_hold"], **NOT_SPAM}),
    InboxView("solved", "Solved", {"status": ["solved", "closed"]}),
    InboxView("spam", "Spam", {"status": ["unsolved"], "tags": [SPAM_TAG]}),
)


def saved_views_for(*, user: Any) -> QuerySet[SavedView]:
    """Shared views plus the user's own."""
    policy.require(policy.is_staff(user), "Only agents have inbox views.")
    return SavedView.objects.filter(Q(owner__isnull=True) | Q(owner=user)).order_by(
        "position", "name"
    )


def inbox_views(*, user: Any) -> list[InboxView]:
    views = list(BUILT_IN_VIEWS)
    for saved in saved_views_for(user=user):
        views.append(
            InboxView(
                f"saved-{saved.pk}",
                saved.name,
                saved.filters,
                saved.sort if saved.sort in SORTS else "-updated_at",
                tuple(c for c in (saved.columns or DEFAULT_COLUMNS) if c in AVAILABLE_COLUMNS),
                saved,
            )
        )
    return views


def find_view(*, user: Any, slug: str) -> InboxView:
    for view in inbox_views(user=user):
        if view.slug == slug:
            return view
    raise NotFound("No such view.")


def count_version(scope: str) -> int:
    """A number that grows when the counts of ``scope`` ("views", "user:<id>") go stale."""
    return int(cache.get(f"count-version:{scope}") or 0)


def bump_count_version(scope: str) -> None:
    key = f"count-version:{scope}"
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=None)


def view_counts(*, user: Any) -> dict[str, int]:
    """Tickets per view for the sidebar, cached per user for a few seconds."""
    # Versioned keys: the user's own changes and any change to saved views make
    # the next load recount; changes by others show within the cache's seconds.
    cache_key = f"view-counts:{user.pk}:{count_version('views')}:{count_version(f'user:{user.pk}')}"
    counts: dict[str, int] = cache.get(cache_key) or {}
    missing = [view for view in inbox_views(user=user) if view.slug not in counts]
    if missing:
        for view in missing:
            counts[view.slug] = count_tickets(
                user=user, filters=TicketFilters.from_dict(view.filters)
            )
        cache.set(cache_key, counts, COUNT_CACHE_SECONDS)
    return counts


def entries_prefetch() -> Prefetch:
    return Prefetch("entries", queryset=Entry.objects.order_by("created_at"))


# --- added for the agent workspace (new functions; see the workspace report) ---


def get_attachment(*, user: Any, attachment_id: int) -> Attachment:
    """An attachment the user may download, or NotFound.

    The user must see the entry's ticket, and an internal note's files only
    reach those who may read internal notes (customers never do).
    """
    attachment = Attachment.objects.select_related("entry__ticket").filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFound("No such attachment.")
    entry = attachment.entry
    if not policy.can_view_ticket(user, entry.ticket):
        raise NotFound("No such attachment.")
    if entry.kind != EntryKind.PUBLIC_REPLY and not policy.can_view_internal_notes(user):
        raise NotFound("No such attachment.")
    return attachment


def list_custom_fields(*, user: Any, include_inactive: bool = False) -> QuerySet[CustomField]:
    """Ticket custom fields in display order (agents only)."""
    policy.require(policy.is_staff(user), "Only agents see custom fields.")
    fields = CustomField.objects.all()
    if not include_inactive:
        fields = fields.filter(is_active=True)
    return fields.order_by("position", "label")


def list_shared_views(*, user: Any) -> QuerySet[SavedView]:
    """Views shared with the whole team (no owner), for the settings page."""
    policy.require(policy.can_manage_settings(user), "Only admins manage shared views.")
    return SavedView.objects.filter(owner__isnull=True).order_by("position", "name")


# --- added for the customer portal (new function; see the portal report) ---


def customer_custom_fields(*, user: Any) -> QuerySet[CustomField]:
    """Active fields a customer fills in and sees in the portal: the customer-visible ones."""
    return CustomField.objects.filter(is_active=True, is_customer_visible=True).order_by(
        "position", "label"
    )


# --- added for the REST API (new functions; see the API report) ---


def readable_custom_field_keys(*, user: Any) -> set[str] | None:
    """Keys of the ticket custom fields the user may read; ``None`` means every field.

    Staff read them all; a customer reads only the customer-visible ones.
    """
    if policy.is_staff(user):
        return None
    return set(customer_custom_fields(user=user).values_list("key", flat=True))


def tag_counts(*, user: Any) -> QuerySet[Any]:
    """Every tag with the number of tickets carrying it (agents only)."""
    from django.db.models import Count

    from concierge.core.models import Tag

    policy.require(policy.is_staff(user), "Only agents see tags.")
    return Tag.objects.annotate(ticket_count=Count("tickets")).order_by("name")
