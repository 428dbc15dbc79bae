"""Live chat: the channels a site embeds, the visitors who write, and their conversations.

A chat *is* a ticket (channel "chat"): its messages are the ticket's entries,
so the inbox, routing, assignment and the agent's ticket page work unchanged.
This app only adds what a ticket does not know: which embedded channel a
conversation came through, who the visitor is (an anonymous browser or a
signed-in user of the host site), and the live state of the conversation
(read receipts, when it went idle, whether a transcript was sent).
"""

from __future__ import annotations

import secrets

from django.db import models

from concierge.core.models import TimestampedModel

PUBLIC_KEY_PREFIX = "ck_"


def new_public_key() -> str:
    """The key in the embed snippet: public, identifies the channel, grants nothing alone."""
    return PUBLIC_KEY_PREFIX + secrets.token_urlsafe(18)


def new_identity_secret() -> str:
    """The secret the host's server signs visitor identities with (HMAC-SHA256)."""
    return secrets.token_urlsafe(32)


class ChatChannel(TimestampedModel):
    """One embedded widget: where it may run, how it looks, when it is staffed."""

    name = models.CharField(max_length=100, unique=True)
    public_key = models.CharField(max_length=40, unique=True, default=new_public_key)
    # Kept in clear because verifying an HMAC needs the key itself; it is
    # shown to the admin once (on creation or regeneration), never again.
    identity_secret = models.CharField(max_length=64, default=new_identity_secret)
    is_active = models.BooleanField(default=True)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Sites that may embed the widget, e.g. "https://www.example.com".',
    )
    require_identity = models.BooleanField(
        default=False, help_text="Only visitors the host site signed in (HMAC) may chat."
    )
    primary_color = models.CharField(max_length=7, default="#2f5bea")
    text_color = models.CharField(max_length=7, default="#ffffff")
    title = models.CharField(max_length=80, default="Chat with us")
    greeting = models.CharField(max_length=500, default="Hi! How can we help you today?")
    offline_message = models.CharField(
        max_length=500,
        default="We're away right now. Leave a message and we'll answer by email.",
    )
    avatar = models.ImageField(upload_to="chat/avatars/", blank=True)
    language = models.CharField(max_length=16, default="en")
    business_hours = models.ForeignKey(
        "automation.BusinessHours",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_channels",
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_channels",
        help_text="New chats go to this team; its members' availability decides 'online'.",
    )
    pre_chat_form = models.BooleanField(
        default=False, help_text="Ask anonymous visitors for their name and email first."
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        default=30, help_text="A chat with no message for this long ends (and continues by email)."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChatVisitor(TimestampedModel):
    """A person chatting through one channel; always backed by a CRM customer.

    Anonymous visitors get a customer of their own on their first message;
    identified ones (``external_id`` set, signed by the host) are matched to
    the customer with the same email, so they see their earlier chats.
    """

    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="visitors")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="chat_visitors"
    )
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The host site's user id (identified visitors)."
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The help center session (knowledge.HelpSession key) of the articles the
    # widget suggested to this visitor: the chat they then open is linked to
    # it, so deflection counts widget visits like portal ones.
    help_session_key = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~models.Q(external_id=""),
                name="unique_chat_visitor_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.name or f"Visitor {self.pk}"

    @property
    def is_identified(self) -> bool:
        return bool(self.external_id)


class ChatVisitorToken(models.Model):
    """The widget's credential, kept in the visitor's browser. Only its SHA-256 is stored.

    One row per browser: an identified visitor on a phone and a laptop holds
    two tokens, both naming the same visitor.
    """

    visitor = models.ForeignKey(ChatVisitor, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of visitor {self.visitor_id}"


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"


class ChatConversation(TimestampedModel):
    """The live side of one chat ticket."""

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="chat_conversation"
    )
    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(ChatVisitor, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.ACTIVE
    )
    page_url = models.CharField(max_length=500, blank=True)
    last_message_at = models.DateTimeField(db_index=True)
    # Read receipts: the newest entry each side has seen (ids grow with time).
    visitor_read_entry_id = models.BigIntegerField(default=0)
    agent_read_entry_id = models.BigIntegerField(default=0)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=20, blank=True)
    transcript_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["status", "last_message_at"], name="chat_conversation_idle"),
        ]

    def __str__(self) -> str:
        return f"chat on #{self.ticket_id}"

    @property
    def is_active(self) -> bool:
        return self.status == ConversationStatus.ACTIVE
