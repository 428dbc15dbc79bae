"""Tickets, their conversation and their history.

A ticket's human number is its primary key (``#1234``): unique, increasing,
no extra counter to lock. Conversation entries hold public replies, internal
notes and system events; the audit trail records every field change with who
made it and through which channel or rule.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from concierge.core.models import Tag, TimestampedModel


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


# The tag that marks a ticket as spam: inbound channels set it, inbox views hide it.
SPAM_TAG = "spam"

# Statuses in which a ticket still needs work from the team.
UNSOLVED_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Channel(models.TextChoices):
    PORTAL = "portal", "Portal"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    API = "api", "API"
    PHONE = "phone", "Phone"
    SOCIAL = "social", "Social"
    WEB = "web", "Agent workspace"


class Ticket(TimestampedModel):
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.PORTAL)
    requester = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="requested_tickets"
    )
    ccs = models.ManyToManyField("customers.Customer", blank=True, related_name="cc_tickets")
    organization = models.ForeignKey(
        "customers.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    custom_fields = models.JSONField(default=dict, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_customer_activity_at = models.DateTimeField(null=True, blank=True)
    last_agent_activity_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_tickets"
    )
    follow_up_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups"
    )

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # Inbox views filter on status with assignee or team and sort by
            # recent activity; keyset pagination walks (updated_at, id).
            models.Index(
                fields=["assignee", "status", "-updated_at", "-id"], name="ticket_assignee_inbox"
            ),
            models.Index(fields=["team", "status", "-updated_at", "-id"], name="ticket_team_inbox"),
            models.Index(fields=["status", "-updated_at", "-id"], name="ticket_status_inbox"),
            models.Index(fields=["-updated_at", "-id"], name="ticket_recent"),
            models.Index(fields=["requester", "-created_at"], name="ticket_requester_history"),
            models.Index(fields=["organization", "-created_at"], name="ticket_org_history"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def number(self) -> int:
        return int(self.pk)

    @property
    def is_unsolved(self) -> bool:
        return self.status in UNSOLVED_STATUSES


class EntryKind(models.TextChoices):
    PUBLIC_REPLY = "reply", "Public reply"
    INTERNAL_NOTE = "note", "Internal note"
    SYSTEM_EVENT = "event", "System event"


class Entry(models.Model):
    """One item of a ticket's conversation."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent who wrote it (empty for customers and the system).",
    )
    author_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body_source = models.TextField(help_text="What the author wrote (markdown).")
    body_html = models.TextField(help_text="Sanitized HTML rendered from the source.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    metadata = models.JSONField(default=dict, blank=True)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="entry_timeline")]
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.ticket_id}"

    @property
    def is_public(self) -> bool:
        return self.kind == EntryKind.PUBLIC_REPLY

    @property
    def author_name(self) -> str:
        if self.author_user_id and self.author_user:
            return self.author_user.name
        if self.author_customer_id and self.author_customer:
            return self.author_customer.name
        return "System"


def attachment_path(instance: Attachment, filename: str) -> str:
    # Files live under the ticket so a storage browser groups them sensibly;
    # the random part keeps names unguessable and avoids clashes.
    import secrets

    return f"attachments/{instance.entry.ticket_id}/{secrets.token_hex(8)}/{filename}"


class Attachment(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=500)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.filename


class AuditEvent(models.Model):
    """One change to a ticket: which field, from what, to what, by whom, via what."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="audit_events")
    field = models.CharField(max_length=64)
    before = models.TextField(blank=True)
    after = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=64, help_text="Channel or rule that made the change.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="audit_ticket_time")]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.field}: {self.before!r} -> {self.after!r}"


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DROPDOWN = "dropdown", "Dropdown"
    MULTI_SELECT = "multi_select", "Multi-select"
    CHECKBOX = "checkbox", "Checkbox"
    DATE = "date", "Date"


class CustomField(TimestampedModel):
    """An admin-defined ticket field; values live in ``Ticket.custom_fields[key]``."""

    key = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=16, choices=FieldType.choices)
    choices = models.JSONField(default=list, blank=True, help_text="Options for dropdowns.")
    is_required_on_solve = models.BooleanField(default=False)
    is_customer_visible = models.BooleanField(
        default=False, help_text="Customers fill it in and see it in the portal."
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    description = models.CharField(max_length=255, blank=True)
    detect_from_messages = models.BooleanField(
        default=False,
        help_text="Dropdowns and multi-selects: AI triage fills the field (when it is empty) "
        "with the options a customer's message mentions.",
    )
    detection_phrases = models.JSONField(
        default=dict,
        blank=True,
        help_text="Option -> extra phrases that mean it (the option's own words always count).",
    )

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label

    def coerce(self, value: Any) -> Any:
        """The value typed as this field stores it; ValueError when it does not fit."""
        if self.field_type == FieldType.TEXT:
            text = str(value)
            if len(text) > 2000:
                raise ValueError("At most 2000 characters.")
            return text
        if self.field_type == FieldType.NUMBER:
            number = Decimal(str(value))
            return int(number) if number == number.to_integral_value() else float(number)
        if self.field_type == FieldType.CHECKBOX:
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if self.field_type == FieldType.DATE:
            return datetime.strptime(str(value), "%Y-%m-%d").date().isoformat()  # noqa: DTZ007
        if self.field_type == FieldType.DROPDOWN:
            if str(value) not in self.choices:
                raise ValueError(f"Choose one of: {', '.join(self.choices)}.")
            return str(value)
        if self.field_type == FieldType.MULTI_SELECT:
            items = [value] if isinstance(value, str) else list(value)
            unknown = [str(item) for item in items if str(item) not in self.choices]
            if unknown:
                raise ValueError(f"Not an option: {', '.join(unknown)}.")
            return sorted({str(item) for item in items})
        raise ValueError("Unsupported field type.")


class SavedView(TimestampedModel):
    """A named inbox view: filters, sort and columns. Shared when it has no owner."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_views",
    )
    filters = models.JSONField(default=dict, blank=True)
    sort = models.CharField(max_length=32, default="-updated_at")
    columns = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name
