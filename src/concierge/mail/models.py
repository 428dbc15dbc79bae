"""Support addresses (mailboxes), every message they receive, and the Message-ID index.

Raw messages are kept through Django's file storage rather than in a
database column: a message with attachments is typically ten to a hundred
times larger than the text we extract from it, and the scaled profile keeps
files in S3-compatible storage next to ticket attachments, so the database
stays small and backups stay fast. The file is written before the row, in
the same call, so a row never exists without its raw message (a crash in
between leaves at worst an unreferenced file). Size is bounded by
``RAW_MESSAGE_MAX_BYTES`` (25 MB, the common SMTP limit).
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from concierge.core.models import TimestampedModel
from concierge.core.sealed import SealedCharField

RAW_MESSAGE_MAX_BYTES = 25 * 1024 * 1024
MESSAGE_ID_MAX_CHARS = 255


def generate_inbound_secret() -> str:
    return secrets.token_urlsafe(32)


class AfterImport(models.TextChoices):
    FLAG_SEEN = "flag_seen", "Flag as seen"
    MOVE = "move", "Move to a folder"
    DELETE = "delete", "Delete"


class SmtpSecurity(models.TextChoices):
    NONE = "none", "None"
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "TLS (implicit)"


class Mailbox(TimestampedModel):
    """A support address customers write to; how mail reaches it and how replies leave."""

    name = models.CharField(max_length=100)
    address = models.EmailField(unique=True, help_text="The support address, e.g. help@acme.test.")
    from_name = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    default_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Receiving over IMAP (used by the transport slice).
    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_use_ssl = models.BooleanField(default=True)
    imap_user = models.CharField(max_length=255, blank=True)
    imap_password = SealedCharField(max_length=255, blank=True)  # encrypted (core.sealed)
    imap_folder = models.CharField(max_length=255, default="INBOX")
    imap_after_import = models.CharField(
        max_length=10, choices=AfterImport.choices, default=AfterImport.FLAG_SEEN
    )
    imap_move_to_folder = models.CharField(max_length=255, blank=True)
    # Sending over SMTP (used by the sending slice).
    smtp_host = models.CharField(max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(
        max_length=10, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS
    )
    smtp_user = models.CharField(max_length=255, blank=True)
    smtp_password = SealedCharField(max_length=255, blank=True)  # encrypted (core.sealed)
    # The HTTP inbound endpoint authenticates with this secret; Mailgun's
    # webhooks are signed with the account's signing key instead.
    inbound_secret = models.CharField(max_length=64, default=generate_inbound_secret)
    mailgun_signing_key = SealedCharField(max_length=255, blank=True)  # encrypted (core.sealed)
    # Processing.
    max_attachment_bytes = models.PositiveBigIntegerField(
        default=20 * 1024 * 1024,
        help_text="Larger attachments are not stored; the entry notes their name and size.",
    )
    spam_threshold = models.FloatField(
        default=5.0, help_text="X-Spam-Score at or above this marks a message as spam."
    )
    reopen_solved_on_reply = models.BooleanField(
        default=True,
        help_text="A reply to a solved ticket reopens it; when off it opens a follow-up.",
    )
    acknowledge_new_requests = models.BooleanField(default=False)
    max_messages_per_sender_per_hour = models.PositiveIntegerField(
        default=20, help_text="More from one sender within an hour are ignored (mail loops)."
    )
    is_default = models.BooleanField(
        default=False,
        help_text="Replies on tickets that did not come by mail leave from the default mailbox.",
    )
    # Outgoing mail: plain text with {placeholders} (see concierge.mail.outbound.PLACEHOLDERS).
    signature = models.TextField(
        blank=True, max_length=2000, help_text="Appended to every reply sent from this mailbox."
    )
    acknowledgement_subject = models.CharField(
        max_length=255, default="We received your request: {subject}"
    )
    acknowledgement_template = models.TextField(
        max_length=10_000,
        default=(
            "Hello {customer_name},\n\n"
            "Thank you for writing to us. Your request has reference #{ticket_id}; "
            "we will answer as soon as we can.\n\n"
            "To add anything, simply reply to this email.\n\n"
            "{mailbox_name}"
        ),
    )
    assignment_notification_template = models.TextField(
        max_length=10_000,
        default="Ticket #{ticket_id} ({subject}) was assigned to you.\n\n{ticket_url}",
    )
    customer_reply_notification_template = models.TextField(
        max_length=10_000,
        default="{author_name} replied on #{ticket_id} ({subject}):\n\n{message}\n\n{ticket_url}",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    QUARANTINED = "quarantined", "Quarantined"
    DISCARDED = "discarded", "Discarded"
    IGNORED = "ignored", "Ignored (loop)"
    BOUNCE = "bounce", "Delivery report"


class InboundSource(models.TextChoices):
    IMAP = "imap", "IMAP"
    SMTP = "smtp", "SMTP / LMTP"
    HTTP = "http", "HTTP (raw)"
    MAILGUN = "mailgun", "Mailgun"
    POSTMARK = "postmark", "Postmark"


def raw_message_path(instance: InboundMessage, filename: str) -> str:
    # Grouped per mailbox so a storage browser stays navigable; the random
    # part keeps names unguessable.
    return (
        f"mail/raw/{instance.mailbox_id}/{instance.sha256[:2]}/"
        f"{secrets.token_hex(8)}-{instance.sha256[:16]}.eml"
    )


class InboundMessage(models.Model):
    """One received message, stored raw before anything else happens to it."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="inbound_messages")
    source = models.CharField(max_length=10, choices=InboundSource.choices)
    raw = models.FileField(upload_to=raw_message_path, max_length=500)
    raw_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    message_id = models.CharField(max_length=MESSAGE_ID_MAX_CHARS, blank=True)
    sender = models.CharField(max_length=320, blank=True, help_text="From address, lower-cased.")
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=12, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    error = models.TextField(blank=True, help_text="Why it was quarantined or ignored.")
    attempts = models.PositiveIntegerField(default=0)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entry = models.ForeignKey(
        "tickets.Entry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "message_id"],
                condition=~Q(message_id=""),
                name="unique_inbound_message_id",
            ),
            models.UniqueConstraint(
                fields=["mailbox", "sha256"],
                condition=Q(message_id=""),
                name="unique_inbound_sha256_without_message_id",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="inbound_status_recent"),
            models.Index(fields=["mailbox", "sender", "received_at"], name="inbound_sender_rate"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.subject or self.message_id or self.sha256[:12]}"


class Direction(models.TextChoices):
    INBOUND = "in", "Received"
    OUTBOUND = "out", "Sent"


class MessageRecord(models.Model):
    """A Message-ID we received or sent, and the ticket entry it belongs to.

    Threading looks replies up here by their In-Reply-To and References.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="message_records")
    message_id = models.CharField(max_length=MESSAGE_ID_MAX_CHARS)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    entry = models.ForeignKey(
        "tickets.Entry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "message_id"], name="unique_message_record_per_mailbox"
            )
        ]
        indexes = [models.Index(fields=["message_id"], name="message_record_lookup")]

    def __str__(self) -> str:
        return f"{self.direction} {self.message_id} -> #{self.ticket_id}"


class ImapCursor(models.Model):
    """How far the IMAP watcher got in one folder: nothing at or below ``last_uid`` is fetched.

    UIDs only mean something within one UIDVALIDITY: when the server reports
    another (a rebuilt mailbox), the cursor starts over and receiving's own
    deduplication (Message-ID, else content hash) keeps old mail from
    becoming new tickets.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="imap_cursors")
    folder = models.CharField(max_length=255)
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    last_uid = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "folder"], name="unique_imap_cursor")
        ]

    def __str__(self) -> str:
        return f"{self.mailbox.address} {self.folder} uid>{self.last_uid}"


class OutboundKind(models.TextChoices):
    REPLY = "reply", "Agent reply"
    ACKNOWLEDGEMENT = "ack", "Acknowledgement"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboundMessage(models.Model):
    """One email we send for a ticket: what it says, its headers, and how delivery went.

    Everything the message needs except the attachments (read from the entry)
    is stored here when it is queued, so every retry sends the same message
    with the same Message-ID.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="outbound_messages")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    entry = models.ForeignKey(
        "tickets.Entry", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=OutboundKind.choices)
    message_id = models.CharField(max_length=MESSAGE_ID_MAX_CHARS, unique=True)
    from_header = models.CharField(max_length=400)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list)
    reply_to = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=998)
    in_reply_to = models.CharField(max_length=MESSAGE_ID_MAX_CHARS, blank=True)
    references = models.TextField(blank=True)
    auto_submitted = models.CharField(max_length=20, default="no")
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(
        max_length=8, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One reply email per entry, however often the task runs.
            models.UniqueConstraint(
                fields=["entry", "kind"],
                condition=Q(entry__isnull=False),
                name="unique_outbound_per_entry_and_kind",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_due")]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.subject}"
