"""Every write to tickets: validate, change, audit, then act after commit.

The functions take the acting user first (``actor``; ``None`` means the
system itself, e.g. an inbound channel) and ask ``concierge.core.policy``
before changing anything, so a denied call changes nothing.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import InvalidOperation
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from concierge.accounts.models import Team, User
from concierge.core import policy
from concierge.core.errors import (
    Conflict,
    LimitExceeded,
    NewerEntriesArrived,
    NotFound,
    ValidationFailed,
)
from concierge.core.events import enqueue_after_commit, on_commit
from concierge.core.sanitize import render_markdown
from concierge.core.tags import normalize_tags, tags_named
from concierge.customers.models import Customer
from concierge.tickets import live_events
from concierge.tickets.models import (
    Attachment,
    AuditEvent,
    Channel,
    CustomField,
    Entry,
    EntryKind,
    FieldType,
    Priority,
    SavedView,
    Status,
    Ticket,
)

# File types a browser would run or render as a page if served back; kept
# out so an attachment link can never become script on our origin.
BLOCKED_EXTENSIONS = {
    ".html", ".htm", ".svg", ".xhtml", ".js", ".mjs", ".exe", ".bat", ".cmd", ".scr", ".msi",
    ".ps1", ".vbs", ".jar", ".com", ".hta",
}  # fmt: skip
SUBJECT_MAX_CHARS = 255
MENTION_PATTERN = re.compile(r"(?<![\w@])@([\w.\-+]+@[\w\-]+(?:\.[\w\-]+)+|[A-Za-z][\w\-]*)")


@dataclass(frozen=True)
class NewAttachment:
    """An uploaded file before it is stored."""

    filename: str
    content: bytes
    content_type: str = ""

    @property
    def size(self) -> int:
        return len(self.content)


# --- validation helpers ----------------------------------------------------


def validate_attachments(attachments: Sequence[NewAttachment]) -> None:
    """Refuses too many files, files over the size limit and executable types."""
    if len(attachments) > settings.ATTACHMENT_MAX_PER_ENTRY:
        raise LimitExceeded(
            f"Too many attachments: at most {settings.ATTACHMENT_MAX_PER_ENTRY} per message."
        )
    limit_mb = settings.ATTACHMENT_MAX_BYTES / (1024 * 1024)
    for attachment in attachments:
        if attachment.size > settings.ATTACHMENT_MAX_BYTES:
            raise LimitExceeded(
                f"{attachment.filename} is {attachment.size / (1024 * 1024):.1f} MB; "
                f"the attachment size limit is {limit_mb:.0f} MB."
            )
        extension = (
            "." + attachment.filename.rpartition(".")[2].lower()
            if "." in attachment.filename
            else ""
        )
        if extension in BLOCKED_EXTENSIONS:
            raise ValidationFailed(
                f"{attachment.filename}: files of type {extension} are not accepted.",
                field_errors={"attachments": [f"{extension} files are not accepted."]},
            )


def _clean_filename(name: str) -> str:
    name = name.replace("\\", "/").rpartition("/")[2]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return name[:200] or "attachment"


def _validate_body(body: str, *, required: bool = True) -> str:
    if len(body) > settings.ENTRY_BODY_MAX_CHARS:
        raise LimitExceeded(
            f"The message is {len(body)} characters; the limit is {settings.ENTRY_BODY_MAX_CHARS}."
        )
    if required and not body.strip():
        raise ValidationFailed("The message is empty.", field_errors={"body": ["Required."]})
    return body


def clean_custom_field_values(
    values: dict[str, Any], *, customer_facing: bool = False
) -> dict[str, Any]:
    """Checks each value against its field's type and choices; returns typed values."""
    if not values:
        return {}
    fields = {field.key: field for field in CustomField.objects.filter(is_active=True)}
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        field = fields.get(key)
        if field is None or (customer_facing and not field.is_customer_visible):
            errors[key] = ["Unknown field."]
            continue
        if value in (None, "", []):
            cleaned[key] = None
            continue
        try:
            cleaned[key] = field.coerce(value)
        except (ValueError, InvalidOperation) as error:
            errors[key] = [str(error) or "Invalid value."]
    if errors:
        raise ValidationFailed("Some custom field values are invalid.", field_errors=errors)
    return cleaned


def _missing_required_on_solve(ticket: Ticket) -> list[str]:
    return [
        field.label
        for field in CustomField.objects.filter(is_active=True, is_required_on_solve=True)
        if ticket.custom_fields.get(field.key) in (None, "", [])
    ]


# --- change notices -----------------------------------------------------------


def note_ticket_change(actor: Any = None, *, ticket_ids: Sequence[int] = ()) -> None:
    """After commit, makes the actor's cached inbox counts stale so their next page recounts.

    Only the acting agent's counts: recounting every agent's views on every
    change would cost a full set of COUNT queries per agent per change on a
    busy desk; the others' counts catch up within the cache's few seconds.
    The changed tickets are also re-indexed for search (a background task).
    """
    from concierge.search.actions import schedule_index
    from concierge.tickets.services import bump_count_version

    if ticket_ids:
        schedule_index(kind="ticket", object_ids=list(ticket_ids))

    user_id = getattr(actor, "pk", None)
    if user_id is not None and policy.is_staff(actor):
        on_commit(lambda: bump_count_version(f"user:{user_id}"))


# --- audit -----------------------------------------------------------------


def _actor_parts(actor: Any) -> tuple[User | None, Customer | None]:
    if actor is None:
        return None, None
    customer = policy.customer_of(actor)
    if customer is not None:
        return None, customer
    return actor, None


def _audit(ticket: Ticket, field: str, before: Any, after: Any, actor: Any, via: str) -> AuditEvent:
    actor_user, actor_customer = _actor_parts(actor)
    return AuditEvent.objects.create(
        ticket=ticket,
        field=field,
        before="" if before is None else str(before),
        after="" if after is None else str(after),
        actor=actor_user,
        actor_customer=actor_customer,
        via=via,
    )


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (User, Team, Customer)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# --- attachments and entries ----------------------------------------------


def _store_attachments(entry: Entry, attachments: Sequence[NewAttachment]) -> None:
    for attachment in attachments:
        filename = _clean_filename(attachment.filename)
        content_type = (
            attachment.content_type
            or mimetypes.guess_type(filename)[0]
            or "application/octet-stream"
        )[:127]
        stored = Attachment(
            entry=entry, filename=filename, content_type=content_type, size=attachment.size
        )
        stored.file.save(filename, ContentFile(attachment.content), save=False)
        stored.save()


def _resolve_mentions(body: str) -> list[User]:
    """Agents named in a note as ``@email`` or ``@FirstName``."""
    handles = {match.group(1).lower() for match in MENTION_PATTERN.finditer(body)}
    if not handles:
        return []
    agents = User.objects.filter(role__in=["admin", "agent", "light_agent"], is_active=True)
    mentioned = []
    for agent in agents:
        first_name = agent.name.split()[0].lower() if agent.name else ""
        if agent.email.lower() in handles or first_name in handles:
            mentioned.append(agent)
    return mentioned


def _create_entry(
    *,
    ticket: Ticket,
    kind: str,
    body: str,
    author_user: User | None,
    author_customer: Customer | None,
    channel: str,
    attachments: Sequence[NewAttachment] = (),
    metadata: dict[str, Any] | None = None,
) -> Entry:
    entry = Entry.objects.create(
        ticket=ticket,
        kind=kind,
        author_user=author_user,
        author_customer=author_customer,
        body_source=body,
        body_html=render_markdown(body),
        channel=channel,
        metadata=metadata or {},
    )
    _store_attachments(entry, attachments)
    return entry


def _system_event(ticket: Ticket, text: str, metadata: dict[str, Any] | None = None) -> Entry:
    entry = _create_entry(
        ticket=ticket,
        kind=EntryKind.SYSTEM_EVENT,
        body=text,
        author_user=None,
        author_customer=None,
        channel=Channel.WEB,
        metadata=metadata,
    )
    live_events.publish_entry_created(entry)
    return entry


# --- tickets ---------------------------------------------------------------


@transaction.atomic
def create_ticket(
    *,
    actor: Any,
    requester: Customer,
    subject: str,
    body: str,
    channel: str = Channel.PORTAL,
    priority: str = Priority.NORMAL,
    status: str | None = None,
    ccs: Sequence[Customer] = (),
    assignee: User | None = None,
    team: Team | None = None,
    tags: Sequence[str] = (),
    custom_fields: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    attachments: Sequence[NewAttachment] = (),
    metadata: dict[str, Any] | None = None,
    author_customer: Customer | None = None,
) -> Ticket:
    """Opens a ticket with its first message, written by the requester.

    ``metadata`` is kept on that first message (an inbound channel's headers,
    say); ``author_customer`` names another writer than the requester (a CC
    whose mail opened a follow-up).

    A customer may open tickets only for themselves and set only the
    custom fields marked customer-visible; agents may set everything.
    """
    customer_actor = policy.customer_of(actor) if actor is not None else None
    if actor is not None and customer_actor is None:
        policy.require(policy.is_full_agent(actor), "Only agents may open tickets for customers.")
    if customer_actor is not None:
        if requester.pk != customer_actor.pk:
            raise policy.PermissionDenied("Customers can open requests only for themselves.")
        priority, status, assignee, team, tags, due_at, ccs = (
            Priority.NORMAL,
            None,
            None,
            None,
            (),
            None,
            (),
        )
    subject = " ".join(subject.split())
    if not subject:
        raise ValidationFailed("A subject is required.", field_errors={"subject": ["Required."]})
    if len(subject) > SUBJECT_MAX_CHARS:
        raise LimitExceeded(
            f"The subject is {len(subject)} characters; the limit is {SUBJECT_MAX_CHARS}."
        )
    _validate_body(body)
    validate_attachments(attachments)
    if priority not in Priority.values:
        raise ValidationFailed("Unknown priority.", field_errors={"priority": ["Unknown value."]})
    if status is not None and status not in Status.values:
        raise ValidationFailed("Unknown status.", field_errors={"status": ["Unknown value."]})
    if assignee is not None and not policy.is_staff(assignee):
        raise ValidationFailed(
            "Only agents can be assignees.", field_errors={"assignee": ["Not an agent."]}
        )
    cleaned_fields = clean_custom_field_values(
        custom_fields or {}, customer_facing=customer_actor is not None
    )
    now = timezone.now()
    ticket = Ticket.objects.create(
        subject=subject,
        status=status or (Status.OPEN if assignee else Status.NEW),
        priority=priority,
        channel=channel,
        requester=requester,
        organization_id=requester.organization_id,
        assignee=assignee,
        team=team,
        custom_fields={k: v for k, v in cleaned_fields.items() if v is not None},
        due_at=due_at,
        last_customer_activity_at=now,
    )
    if ccs:
        ticket.ccs.set([cc for cc in ccs if cc.pk != requester.pk])
    if tags:
        _set_tags(ticket, normalize_tags(tags))
    agent_actor = actor if actor is not None and customer_actor is None else None
    first_entry = _create_entry(
        ticket=ticket,
        kind=EntryKind.PUBLIC_REPLY,
        body=body,
        author_user=None,
        author_customer=author_customer or requester,
        channel=channel,
        attachments=attachments,
        metadata={
            **(metadata or {}),
            **({"created_by_agent_id": agent_actor.pk} if agent_actor else {}),
        },
    )
    _audit(ticket, "created", None, ticket.get_status_display(), actor, via=channel)
    note_ticket_change(actor, ticket_ids=[ticket.pk])
    live_events.publish_ticket_created(ticket)
    live_events.publish_entry_created(first_entry)
    if assignee is not None:
        _notify_assignment(ticket, assignee, actor)
    _schedule_routing(ticket.pk, "ticket_created")
    return ticket


def _set_tags(ticket: Ticket, names: Sequence[str]) -> None:
    ticket.tags.set(tags_named(names))


UPDATABLE_FIELDS = {
    "subject", "status", "priority", "assignee", "team", "due_at", "requester",
    "tags", "add_tags", "remove_tags", "custom_fields", "ccs",
}  # fmt: skip


@transaction.atomic
def update_ticket(
    *, actor: Any, ticket: Ticket, changes: dict[str, Any], via: str = Channel.WEB
) -> Ticket:
    """Applies ``changes`` (field -> new value), recording each real change in the audit trail.

    Solving checks the custom fields marked required-on-solve; reopening a
    solved or closed ticket counts a reopen.
    """
    if actor is not None:
        policy.require(policy.can_update_ticket(actor, ticket), "You cannot change this ticket.")
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.merged_into_id and changes:
        raise Conflict(f"Ticket #{ticket.pk} was merged into #{ticket.merged_into_id}.")
    properties_before = live_events.snapshot(ticket)
    routing_before = (ticket.assignee_id, ticket.status, ticket.team_id)
    related_changes: list[str] = []  # many-to-many changes the snapshot does not see

    if "custom_fields" in changes:
        cleaned = clean_custom_field_values(changes["custom_fields"] or {})
        for key, value in cleaned.items():
            before = ticket.custom_fields.get(key)
            if before != value:
                _audit(ticket, f"custom_fields.{key}", before, value, actor, via)
                if value is None:
                    ticket.custom_fields.pop(key, None)
                else:
                    ticket.custom_fields[key] = value

    for field in ("subject", "priority", "due_at"):
        if field in changes and getattr(ticket, field) != changes[field]:
            value = changes[field]
            if field == "subject":
                value = " ".join(str(value).split())
                if not value:
                    raise ValidationFailed(
                        "A subject is required.", field_errors={"subject": ["Required."]}
                    )
                if len(value) > SUBJECT_MAX_CHARS:
                    raise LimitExceeded(
                        f"The subject is {len(value)} characters; the limit is {SUBJECT_MAX_CHARS}."
                    )
            if field == "priority" and value not in Priority.values:
                raise ValidationFailed(
                    "Unknown priority.", field_errors={"priority": ["Unknown value."]}
                )
            _audit(ticket, field, _display(getattr(ticket, field)), _display(value), actor, via)
            setattr(ticket, field, value)

    if "requester" in changes and changes["requester"].pk != ticket.requester_id:
        new_requester: Customer = changes["requester"]
        _audit(ticket, "requester", ticket.requester, new_requester, actor, via)
        ticket.requester = new_requester
        ticket.organization_id = new_requester.organization_id

    if "team" in changes and changes["team"] != ticket.team:
        _audit(ticket, "team", ticket.team, changes["team"], actor, via)
        ticket.team = changes["team"]

    if "assignee" in changes and changes["assignee"] != ticket.assignee:
        assignee: User | None = changes["assignee"]
        if assignee is not None and not (policy.is_staff(assignee) and assignee.is_active):
            raise ValidationFailed(
                "Only active agents can be assignees.", field_errors={"assignee": ["Not an agent."]}
            )
        _audit(ticket, "assignee", ticket.assignee, assignee, actor, via)
        ticket.assignee = assignee
        if assignee is not None:
            if ticket.status == Status.NEW and "status" not in changes:
                changes = {**changes, "status": Status.OPEN}
            if actor is None or assignee.pk != getattr(actor, "pk", None):
                _notify_assignment(ticket, assignee, actor)

    if "status" in changes and changes["status"] != ticket.status:
        _change_status(ticket, changes["status"], actor, via)

    if "ccs" in changes:
        new_ccs = {cc.pk: cc for cc in changes["ccs"] if cc.pk != ticket.requester_id}
        old_ccs = {cc.pk: cc for cc in ticket.ccs.all()}
        if set(new_ccs) != set(old_ccs):
            _audit(
                ticket,
                "ccs",
                ", ".join(map(str, old_ccs.values())),
                ", ".join(map(str, new_ccs.values())),
                actor,
                via,
            )
            ticket.ccs.set(list(new_ccs.values()))
            related_changes.append("ccs")

    if {"tags", "add_tags", "remove_tags"} & set(changes):
        current = list(ticket.tags.values_list("name", flat=True))
        if "tags" in changes:
            wanted = normalize_tags(changes["tags"])
        else:
            wanted = list(current)
            for name in normalize_tags(changes.get("add_tags", [])):
                if name not in wanted:
                    wanted.append(name)
            removed = set(normalize_tags(changes.get("remove_tags", [])))
            wanted = [name for name in wanted if name not in removed]
        if sorted(wanted) != sorted(current):
            _audit(ticket, "tags", " ".join(sorted(current)), " ".join(sorted(wanted)), actor, via)
            _set_tags(ticket, wanted)
            related_changes.append("tags")

    ticket.save()
    note_ticket_change(actor, ticket_ids=[ticket.pk])
    _schedule_assignment_after_update(ticket, routing_before)
    live_events.publish_ticket_updated(
        ticket, [*live_events.changed_fields(properties_before, ticket), *related_changes]
    )
    return ticket


def _change_status(ticket: Ticket, new_status: str, actor: Any, via: str) -> None:
    if new_status not in Status.values:
        raise ValidationFailed("Unknown status.", field_errors={"status": ["Unknown value."]})
    if new_status in (Status.SOLVED, Status.CLOSED):
        missing = _missing_required_on_solve(ticket)
        if missing:
            raise ValidationFailed(
                f"Fill in before solving: {', '.join(missing)}.",
                field_errors={
                    "custom_fields": [f"{label} is required to solve." for label in missing]
                },
            )
    now = timezone.now()
    old_status = ticket.status
    if old_status in (Status.SOLVED, Status.CLOSED) and new_status not in (
        Status.SOLVED,
        Status.CLOSED,
    ):
        ticket.reopen_count += 1
        ticket.solved_at = None
        ticket.closed_at = None
    if new_status == Status.SOLVED:
        ticket.solved_at = now
    if new_status == Status.CLOSED:
        ticket.closed_at = now
        ticket.solved_at = ticket.solved_at or now
    _audit(ticket, "status", ticket.get_status_display(), Status(new_status).label, actor, via)
    ticket.status = new_status


@transaction.atomic
def add_entry(
    *,
    actor: Any,
    ticket: Ticket,
    body: str,
    kind: str = EntryKind.PUBLIC_REPLY,
    channel: str = Channel.WEB,
    attachments: Sequence[NewAttachment] = (),
    status_after: str | None = None,
    metadata: dict[str, Any] | None = None,
    author_customer: Customer | None = None,
    seen_last_entry_id: int | None = None,
) -> Entry:
    """Adds a public reply or an internal note and moves the ticket along.

    * an agent's first public reply stamps the first response time and opens a new ticket;
    * a customer's reply reopens a solved ticket and takes a pending one back to open;
    * a closed ticket takes no replies: the customer opens a follow-up instead.
    ``actor=None`` with ``author_customer`` is an inbound channel writing for a customer.

    ``seen_last_entry_id`` is the newest entry the writer's page showed; when
    someone else has written since, nothing is saved and ``NewerEntriesArrived``
    asks the writer to read first (collision detection). Sending again
    without it confirms.
    """
    if kind not in (EntryKind.PUBLIC_REPLY, EntryKind.INTERNAL_NOTE):
        raise ValidationFailed("Unknown entry kind.", field_errors={"kind": ["Unknown value."]})
    if actor is not None:
        if kind == EntryKind.INTERNAL_NOTE:
            policy.require(
                policy.can_add_internal_note(actor, ticket), "You cannot add notes here."
            )
        else:
            policy.require(
                policy.can_reply_publicly(actor, ticket), "You cannot reply on this ticket."
            )
    _validate_body(body, required=not attachments)
    validate_attachments(attachments)
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.status == Status.CLOSED and kind == EntryKind.PUBLIC_REPLY:
        raise Conflict(f"Ticket #{ticket.pk} is closed; open a follow-up request instead.")
    if ticket.merged_into_id:
        raise Conflict(
            f"Ticket #{ticket.pk} was merged into #{ticket.merged_into_id}; reply there."
        )
    if seen_last_entry_id is not None:
        _refuse_if_newer_entries(ticket, actor, seen_last_entry_id)
    properties_before = live_events.snapshot(ticket)

    customer = policy.customer_of(actor) if actor is not None else author_customer
    if customer is not None and kind == EntryKind.INTERNAL_NOTE:
        raise policy.PermissionDenied("Customers cannot write internal notes.")
    author_user = actor if customer is None else None
    entry = _create_entry(
        ticket=ticket,
        kind=kind,
        body=body,
        author_user=author_user,
        author_customer=customer,
        channel=channel,
        attachments=attachments,
        metadata=metadata,
    )
    now = timezone.now()
    note_ticket_change(actor, ticket_ids=[ticket.pk])
    if customer is not None:
        ticket.last_customer_activity_at = now
        if ticket.status == Status.SOLVED:
            _change_status(ticket, Status.OPEN, actor, via=channel)
        elif ticket.status == Status.PENDING:
            _change_status(ticket, Status.OPEN, actor, via=channel)
        ticket.save()
        if ticket.assignee_id:
            enqueue_after_commit(_tasks().notify_agent_of_customer_reply, entry.pk)
        _schedule_routing(ticket.pk, "customer_reply", entry.pk)
    elif kind == EntryKind.PUBLIC_REPLY:
        ticket.last_agent_activity_at = now
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.save()
        changes: dict[str, Any] = {}
        if status_after:
            changes["status"] = status_after
        elif ticket.status == Status.NEW:
            changes["status"] = Status.OPEN
        if ticket.assignee_id is None and policy.is_full_agent(actor):
            changes["assignee"] = actor
        if changes:
            update_ticket(actor=actor, ticket=ticket, changes=changes, via=channel)
        enqueue_after_commit(_tasks().notify_customer_of_reply, entry.pk)
    else:
        mentioned = _resolve_mentions(body)
        if mentioned:
            entry.mentions.set(mentioned)
            for agent in mentioned:
                enqueue_after_commit(_tasks().notify_agent_of_mention, entry.pk, agent.pk)
        if status_after and policy.can_update_ticket(actor, ticket):
            update_ticket(actor=actor, ticket=ticket, changes={"status": status_after}, via=channel)
        else:
            Ticket.objects.filter(pk=ticket.pk).update(updated_at=now)
    live_events.publish_entry_created(entry)
    # The inbox row moves (last activity, maybe status); update_ticket above
    # already announced its own changes, so re-read the ticket for fresh facts.
    changed = live_events.changed_fields(properties_before, ticket)
    ticket.refresh_from_db()
    live_events.publish_ticket_updated(
        ticket, ["entries", *changed], extra={"entry_id": entry.pk, "entry_kind": entry.kind}
    )
    return entry


def _refuse_if_newer_entries(ticket: Ticket, actor: Any, seen_last_entry_id: int) -> None:
    """Raises NewerEntriesArrived if others wrote on ``ticket`` after the last entry seen.

    Only messages count (not system events), only ones the writer may see
    (customers never see notes), and not the writer's own (another tab).
    """
    newer = Entry.objects.filter(
        ticket=ticket,
        pk__gt=seen_last_entry_id,
        kind__in=[EntryKind.PUBLIC_REPLY, EntryKind.INTERNAL_NOTE],
    )
    customer = policy.customer_of(actor) if actor is not None else None
    if customer is not None:
        newer = newer.filter(kind=EntryKind.PUBLIC_REPLY).exclude(author_customer_id=customer.pk)
    elif actor is not None:
        newer = newer.exclude(author_user_id=actor.pk)
    count = newer.count()
    if count:
        noun = "message has" if count == 1 else "messages have"
        raise NewerEntriesArrived(
            f"{count} new {noun} arrived on #{ticket.pk} since you opened it. "
            "Read them, then send your reply again to confirm.",
            field_errors={"body": ["Newer messages arrived; your reply was not sent."]},
        )


@transaction.atomic
def customer_mark_solved(*, actor: Any, ticket: Ticket) -> Ticket:
    """A customer says their request is done."""
    policy.require(policy.can_customer_mark_solved(actor, ticket))
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.status not in (Status.SOLVED, Status.CLOSED):
        _change_status(ticket, Status.SOLVED, actor, via=Channel.PORTAL)
        ticket.save()
        live_events.publish_ticket_updated(ticket, ["status"])
    return ticket


@transaction.atomic
def merge_tickets(*, actor: Any, sources: Sequence[Ticket], target: Ticket) -> Ticket:
    """Moves the sources' conversations into ``target``; each source closes pointing to it."""
    policy.require(policy.can_update_ticket(actor, target), "You cannot merge tickets.")
    source_ids = sorted({source.pk for source in sources} - {target.pk})
    if not source_ids:
        raise ValidationFailed("Pick at least one other ticket to merge.")
    target = Ticket.objects.select_for_update().get(pk=target.pk)
    if target.merged_into_id:
        raise Conflict(f"Ticket #{target.pk} was itself merged into #{target.merged_into_id}.")
    locked_sources = list(Ticket.objects.select_for_update().filter(pk__in=source_ids))
    if len(locked_sources) != len(source_ids):
        raise NotFound("Some of the tickets to merge do not exist.")
    for source in locked_sources:
        if source.merged_into_id:
            raise Conflict(f"Ticket #{source.pk} was already merged into #{source.merged_into_id}.")
        Entry.objects.filter(ticket=source).update(ticket=target)
        if source.requester_id != target.requester_id:
            target.ccs.add(source.requester_id)
        target.ccs.add(*source.ccs.exclude(pk=target.requester_id))
        existing = set(target.tags.values_list("name", flat=True))
        extra = [
            name for name in source.tags.values_list("name", flat=True) if name not in existing
        ]
        if extra:
            _set_tags(target, sorted(existing | set(extra)))
        _system_event(source, f"Merged into #{target.pk}.", {"merged_into": target.pk})
        _system_event(
            target,
            f"Ticket #{source.pk} ({source.subject}) was merged into this ticket.",
            {"merged_from": source.pk},
        )
        _audit(source, "merged_into", None, f"#{target.pk}", actor, Channel.WEB)
        _audit(target, "merged_from", None, f"#{source.pk}", actor, Channel.WEB)
        source.merged_into = target
        if source.status != Status.CLOSED:
            _audit(
                source,
                "status",
                source.get_status_display(),
                Status.CLOSED.label,
                actor,
                Channel.WEB,
            )
        source.status = Status.CLOSED
        source.closed_at = timezone.now()
        source.save()
        live_events.publish_ticket_updated(
            source, ["merged_into", "status"], extra={"merged_into": target.pk}
        )
    target.save()
    note_ticket_change(actor, ticket_ids=[target.pk, *(source.pk for source in sources)])
    # The target's timeline gained the sources' entries: its page reloads them.
    live_events.publish_ticket_updated(
        target, ["entries", "merged_from"], extra={"merged_from": source_ids}
    )
    return target


@transaction.atomic
def create_follow_up(
    *,
    actor: Any,
    closed_ticket: Ticket,
    body: str,
    subject: str = "",
    channel: str = Channel.PORTAL,
    attachments: Sequence[NewAttachment] = (),
    metadata: dict[str, Any] | None = None,
    author_customer: Customer | None = None,
) -> Ticket:
    """A new ticket that continues a finished one, linked to it, keeping its team and assignee.

    Closed tickets take follow-ups only; a solved one takes one when its
    channel is set not to reopen solved tickets (the email channel can be).
    """
    if actor is not None:
        policy.require(
            policy.can_reply_publicly(actor, closed_ticket), "You cannot follow up on this ticket."
        )
    closed_ticket = Ticket.objects.select_related("assignee").get(pk=closed_ticket.pk)
    if closed_ticket.status not in (Status.SOLVED, Status.CLOSED):
        raise Conflict(f"Ticket #{closed_ticket.pk} is still open; reply to it instead.")
    customer = policy.customer_of(actor) if actor is not None else None
    requester = customer or closed_ticket.requester
    follow_up = create_ticket(
        actor=None,
        requester=requester,
        subject=subject or f"Re: {closed_ticket.subject}"[:SUBJECT_MAX_CHARS],
        body=body,
        channel=channel,
        priority=closed_ticket.priority,
        team=closed_ticket.team,
        assignee=closed_ticket.assignee
        if closed_ticket.assignee and closed_ticket.assignee.is_active
        else None,
        tags=list(closed_ticket.tags.values_list("name", flat=True)),
        attachments=attachments,
        metadata=metadata,
        author_customer=author_customer,
    )
    follow_up.follow_up_of = closed_ticket
    follow_up.save(update_fields=["follow_up_of"])
    _system_event(
        follow_up,
        f"Follow-up of {closed_ticket.get_status_display().lower()} ticket #{closed_ticket.pk}.",
        {"follow_up_of": closed_ticket.pk},
    )
    return follow_up


@transaction.atomic
def bulk_update(*, actor: Any, tickets: Sequence[Ticket], changes: dict[str, Any]) -> list[Ticket]:
    """Applies the same changes to many tickets; all or nothing."""
    return [update_ticket(actor=actor, ticket=ticket, changes=changes) for ticket in tickets]


def _notify_assignment(ticket: Ticket, assignee: User, actor: Any) -> None:
    if assignee.notify_on_assignment:
        enqueue_after_commit(_tasks().notify_agent_of_assignment, ticket.pk, assignee.pk)


def _tasks() -> Any:
    # Imported late: tasks import this module to reuse its helpers.
    from concierge.tickets import tasks

    return tasks


# --- hand-offs to routing (automation builds on tickets, so it is imported late) ---


def _routing_tasks() -> Any:
    from concierge.automation import tasks

    return tasks


def _schedule_routing(ticket_id: int, event: str, entry_id: int | None = None) -> None:
    """After commit: triage, routing rules and assignment for a new ticket or customer message."""
    enqueue_after_commit(_routing_tasks().process_ticket_event, ticket_id, event, entry_id)


def _schedule_assignment_after_update(
    ticket: Ticket, before: tuple[int | None, str, int | None]
) -> None:
    """After commit, let routing use what this change freed: the previous assignee's slot
    (reassigned, solved, set pending), or a ticket moved into a team with nobody assigned."""
    assignee_before, status_before, team_before = before
    if assignee_before and (
        ticket.assignee_id != assignee_before or ticket.status != status_before
    ):
        enqueue_after_commit(_routing_tasks().fill_free_capacity, assignee_before)
    if (
        ticket.assignee_id is None
        and ticket.team_id is not None
        and (ticket.team_id != team_before or assignee_before is not None)
        and ticket.is_unsolved
    ):
        enqueue_after_commit(_routing_tasks().assign_waiting_ticket, ticket.pk)


# --- desk configuration: custom fields and shared views (added for the workspace) ---

CUSTOM_FIELD_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CHOICE_TYPES = (FieldType.DROPDOWN, FieldType.MULTI_SELECT)
# Entity detection's phrases (see ``CustomField.detection_phrases``): enough for every
# way customers name a product, few enough that the page and the matcher stay small.
DETECTION_PHRASES_PER_OPTION_MAX = 50
DETECTION_PHRASE_MAX_CHARS = 100
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_detection_phrases(
    phrases: Mapping[str, Sequence[str]] | None,
    *,
    options: Sequence[str],
    previous: Mapping[str, Sequence[str]],
) -> dict[str, list[str]]:
    """Each option's extra phrases, tidied and checked; only options that exist keep phrases.

    ``phrases`` None keeps the ``previous`` phrases of the options that remain
    (dropping an option drops its phrases). Given phrases must name existing
    options; a phrase that says the same words as another option's would make
    a message mean two things, so it is refused.
    """
    from concierge.ai.entities import words

    if phrases is None:
        return {option: list(previous[option]) for option in options if previous.get(option)}
    if not isinstance(phrases, Mapping):
        raise ValidationFailed(
            "Detection phrases are given per option.",
            field_errors={"detection_phrases": ["An object: option -> list of phrases."]},
        )
    unknown = [str(option) for option in phrases if option not in options]
    if unknown:
        raise ValidationFailed(
            "Phrases can only be given for the field's options.",
            field_errors={
                "detection_phrases": [f"Not an option: {', '.join(o[:100] for o in unknown)}."]
            },
        )
    owner_of_words = {words(option): option for option in options}
    cleaned: dict[str, list[str]] = {}
    for option in options:
        given = phrases.get(option) or []
        if isinstance(given, str) or not all(isinstance(phrase, str) for phrase in given):
            raise ValidationFailed(
                "Detection phrases are lists of text.",
                field_errors={"detection_phrases": [f"{option}: a list of phrases."]},
            )
        kept: list[str] = []
        for phrase in given:
            # Control characters are dropped with the spacing: phrases are plain text.
            text = " ".join(_CONTROL_CHARACTERS.sub("", phrase).split())
            if not text:
                continue
            if len(text) > DETECTION_PHRASE_MAX_CHARS:
                raise LimitExceeded(
                    f"A detection phrase is at most {DETECTION_PHRASE_MAX_CHARS} characters.",
                    field_errors={"detection_phrases": [f"{option}: too long: {text[:40]}…"]},
                )
            phrase_words = words(text)
            if not phrase_words:
                raise ValidationFailed(
                    "A detection phrase needs letters or digits.",
                    field_errors={"detection_phrases": [f"{option}: {text[:40]!r} has no words."]},
                )
            owner = owner_of_words.setdefault(phrase_words, option)
            if owner != option:
                raise ValidationFailed(
                    "A phrase can mean only one option.",
                    field_errors={
                        "detection_phrases": [f"{text[:40]!r} is given for {owner} and {option}."]
                    },
                )
            if text not in kept and words(option) != phrase_words:
                kept.append(text)
        if len(kept) > DETECTION_PHRASES_PER_OPTION_MAX:
            raise LimitExceeded(
                f"At most {DETECTION_PHRASES_PER_OPTION_MAX} detection phrases per option.",
                field_errors={"detection_phrases": [f"{option}: {len(kept)} given."]},
            )
        if kept:
            cleaned[option] = kept
    return cleaned


@transaction.atomic
def save_custom_field(
    *,
    actor: Any,
    key: str,
    label: str,
    field_type: str,
    choices: Sequence[str] = (),
    is_required_on_solve: bool = False,
    is_customer_visible: bool = False,
    is_active: bool = True,
    position: int = 0,
    description: str = "",
    detect_from_messages: bool = False,
    detection_phrases: Mapping[str, Sequence[str]] | None = None,
    field: CustomField | None = None,
) -> CustomField:
    """Creates or changes a ticket custom field.

    The key cannot change once created: ticket values are stored under it.
    ``detect_from_messages`` (dropdowns and multi-selects) lets AI triage fill
    the field from customers' messages; ``detection_phrases`` (option -> extra
    phrases) None keeps the phrases of the options that remain.
    """
    policy.require(policy.can_manage_settings(actor), "Only admins manage custom fields.")
    errors: dict[str, list[str]] = {}
    key = key.strip().lower()
    label = " ".join(label.split())
    if field is not None and key != field.key:
        errors["key"] = ["The key cannot change once the field exists."]
    elif not CUSTOM_FIELD_KEY_PATTERN.match(key):
        errors["key"] = ["Use lower-case letters, digits and '_', starting with a letter."]
    elif field is None and CustomField.objects.filter(key=key).exists():
        errors["key"] = ["Already in use."]
    if not label:
        errors["label"] = ["Required."]
    elif len(label) > 100:
        errors["label"] = ["At most 100 characters."]
    if field_type not in FieldType.values:
        errors["field_type"] = ["Unknown type."]
    if field is not None and field_type != field.field_type:
        errors["field_type"] = ["The type cannot change once the field exists."]
    cleaned_choices: list[str] = []
    for choice in choices:
        text = " ".join(str(choice).split())[:100]
        if text and text not in cleaned_choices:
            cleaned_choices.append(text)
    if field_type in CHOICE_TYPES and not cleaned_choices:
        errors["choices"] = ["Dropdown and multi-select fields need at least one option."]
    if len(cleaned_choices) > 200:
        errors["choices"] = ["At most 200 options."]
    if position < 0:
        errors["position"] = ["Must be zero or more."]
    if detect_from_messages and field_type not in CHOICE_TYPES:
        errors["detect_from_messages"] = ["Only dropdown and multi-select fields are detected."]
    if errors:
        raise ValidationFailed("The custom field is not valid.", field_errors=errors)
    cleaned_phrases = (
        _clean_detection_phrases(
            detection_phrases,
            options=cleaned_choices,
            previous=field.detection_phrases if field is not None else {},
        )
        if field_type in CHOICE_TYPES
        else {}
    )
    field = field or CustomField(key=key)
    field.label = label
    field.field_type = field_type
    field.choices = cleaned_choices if field_type in CHOICE_TYPES else []
    field.is_required_on_solve = is_required_on_solve
    field.is_customer_visible = is_customer_visible
    field.is_active = is_active
    field.position = position
    field.description = description.strip()[:255]
    field.detect_from_messages = detect_from_messages
    field.detection_phrases = cleaned_phrases
    field.save()
    return field


def delete_custom_field(*, actor: Any, field: CustomField) -> None:
    """Deletes a field definition; values already on tickets stay in their JSON, unused."""
    policy.require(policy.can_manage_settings(actor), "Only admins manage custom fields.")
    field.delete()


@transaction.atomic
def save_saved_view(
    *,
    actor: Any,
    name: str,
    filters: dict[str, Any],
    sort: str = "-updated_at",
    columns: Sequence[str] = (),
    position: int = 0,
    view: SavedView | None = None,
    shared: bool = True,
) -> SavedView:
    """Creates or changes a view: shared with the whole team (admins) or an agent's own.

    An existing view keeps its kind; ``shared`` only matters for new views.
    """
    from concierge.tickets.services import AVAILABLE_COLUMNS, DEFAULT_COLUMNS, SORTS, TicketFilters

    _require_view_access(actor, view, shared)
    errors: dict[str, list[str]] = {}
    name = " ".join(name.split())
    if not name:
        errors["name"] = ["Required."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if sort not in SORTS:
        errors["sort"] = [f"Use one of: {', '.join(SORTS)}."]
    if unknown_columns := [c for c in columns if c not in AVAILABLE_COLUMNS]:
        errors["columns"] = [f"Unknown: {', '.join(unknown_columns)}."]
    if position < 0:
        errors["position"] = ["Must be zero or more."]
    try:
        parsed = TicketFilters.from_dict(filters)
    except ValidationFailed as error:
        errors.update(error.field_errors)
    else:
        known = {f.key: f for f in CustomField.objects.filter(key__in=list(parsed.custom_fields))}
        if unknown_keys := sorted(set(parsed.custom_fields) - set(known)):
            errors["custom_fields"] = [f"Unknown field: {', '.join(unknown_keys)}."]
        else:
            # Typed like stored ticket values, so the view's JSON filter matches them.
            for key, value in list(parsed.custom_fields.items()):
                try:
                    parsed.custom_fields[key] = known[key].coerce(value)
                except (ValueError, InvalidOperation) as error:
                    errors["custom_fields"] = [f"{known[key].label}: {error or 'Invalid value.'}"]
        try:
            parsed.tags = normalize_tags(parsed.tags)
        except ValidationFailed as error:
            errors.update(error.field_errors)
    if errors:
        raise ValidationFailed("The view is not valid.", field_errors=errors)
    view = view or SavedView(owner=None if shared else actor)
    view.name = name
    view.filters = parsed.to_dict()
    view.sort = sort
    view.columns = [c for c in AVAILABLE_COLUMNS if c in columns] or list(DEFAULT_COLUMNS)
    view.position = position
    view.save()
    _note_views_changed()
    return view


def _note_views_changed() -> None:
    """A view's filters changed: every sidebar showing it must recount."""
    from concierge.tickets.services import bump_count_version

    on_commit(lambda: bump_count_version("views"))


def _require_view_access(actor: Any, view: SavedView | None, shared: bool) -> None:
    """Shared views are the admins'; a personal view only its owner's."""
    is_shared = view.owner_id is None if view is not None else shared
    if is_shared:
        policy.require(policy.can_manage_settings(actor), "Only admins manage shared views.")
        return
    policy.require(policy.is_staff(actor), "Only agents have inbox views.")
    if view is not None and view.owner_id != actor.pk:
        raise NotFound("No such view.")


def delete_saved_view(*, actor: Any, view: SavedView) -> None:
    """Deletes a shared view (admins) or the actor's own view."""
    _require_view_access(actor, view, shared=view.owner_id is None)
    view.delete()
    _note_views_changed()
