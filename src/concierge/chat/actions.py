"""Every write of live chat: channels, visitors, conversations, offline messages, transcripts.

A chat is a ticket: conversations start with ``tickets.actions.create_ticket``
(channel "chat") and every visitor message goes through
``tickets.actions.add_entry``, so routing, assignment, the inbox, audit and
the live events of tickets all apply. What this module adds is who the
visitor is, their limits, and the chat's own life (read receipts, idle end,
transcripts, offline messages that become email tickets).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from concierge.accounts.models import Team
from concierge.automation.models import BusinessHours
from concierge.chat import services
from concierge.chat.identity import IdentityRefused, verify_identity
from concierge.chat.models import (
    ChatChannel,
    ChatConversation,
    ChatVisitor,
    ChatVisitorToken,
    ConversationStatus,
    new_identity_secret,
)
from concierge.core import policy
from concierge.core.errors import Conflict, LimitExceeded, ValidationFailed
from concierge.core.events import enqueue_after_commit, publish
from concierge.customers import actions as customer_actions
from concierge.customers.models import CustomerIdentity, IdentityKind
from concierge.knowledge import actions as knowledge_actions
from concierge.knowledge.models import EventKind, HelpChannel, HelpSession
from concierge.knowledge.services import SELF_SERVICE_WINDOW
from concierge.tickets import actions as ticket_actions
from concierge.tickets.actions import NewAttachment
from concierge.tickets.models import Channel, Entry, EntryKind, Status, Ticket

COLOR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")
ATTRIBUTES_MAX_KEYS = 50
ATTRIBUTE_VALUE_MAX_CHARS = 500
SUBJECT_SNIPPET_CHARS = 80


def message_max_chars() -> int:
    return int(getattr(settings, "CHAT_MESSAGE_MAX_CHARS", 5000))


class RateLimited(LimitExceeded):
    """Too many messages from one visitor in the window; the message names the limit."""

    code = "rate_limited"
    status = 429


# --- channels (admins) -----------------------------------------------------------------

CHANNEL_FIELDS = {
    "name", "is_active", "allowed_origins", "require_identity", "primary_color", "text_color",
    "title", "greeting", "offline_message", "language", "business_hours", "team",
    "pre_chat_form", "idle_timeout_minutes", "avatar",
}  # fmt: skip


def _clean_origins(origins: Sequence[str]) -> list[str]:
    """Origins as browsers send them (``scheme://host[:port]``), or ``scheme://*.domain``."""
    cleaned: list[str] = []
    errors: list[str] = []
    for raw in origins:
        text = str(raw).strip().rstrip("/")
        if not text:
            continue
        parts = urlsplit(text.replace("://*.", "://", 1))
        value = services.normalize_origin(text.replace("://*.", "://", 1))
        if parts.path or parts.query or parts.fragment:
            value = ""  # a page URL, not an origin
        if value and "://*." in text:
            scheme, _, host = value.partition("://")
            value = f"{scheme}://*.{host}"
        if not value:
            errors.append(f"{text} is not an origin like https://www.example.com")
        elif value not in cleaned:
            cleaned.append(value)
    if errors:
        raise ValidationFailed(
            "Some allowed origins are not valid.", field_errors={"allowed_origins": errors}
        )
    return cleaned


@transaction.atomic
def save_channel(
    *, actor: Any, changes: dict[str, Any], channel: ChatChannel | None = None
) -> ChatChannel:
    """Creates (``channel=None``) or changes a chat channel."""
    policy.require(policy.can_manage_chat_channels(actor), "Only admins manage chat channels.")
    if unknown := set(changes) - CHANNEL_FIELDS:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    channel = channel or ChatChannel()
    errors: dict[str, list[str]] = {}
    if "name" in changes or channel.pk is None:
        name = " ".join(str(changes.get("name") or "").split())
        if not name:
            errors["name"] = ["Required."]
        elif len(name) > 100:
            errors["name"] = ["At most 100 characters."]
        elif ChatChannel.objects.filter(name__iexact=name).exclude(pk=channel.pk).exists():
            errors["name"] = ["Another channel has this name."]
        channel.name = name
    for field in ("primary_color", "text_color"):
        if field in changes:
            value = str(changes[field]).strip()
            if not COLOR_PATTERN.match(value):
                errors[field] = ["Use a colour like #2f5bea."]
            setattr(channel, field, value.lower())
    limits = {"title": 80, "greeting": 500, "offline_message": 500, "language": 16}
    for field, limit in limits.items():
        if field in changes:
            value = " ".join(str(changes[field] or "").split())
            if not value:
                errors[field] = ["Required."]
            elif len(value) > limit:
                errors[field] = [f"At most {limit} characters."]
            setattr(channel, field, value)
    if "idle_timeout_minutes" in changes:
        try:
            minutes = int(changes["idle_timeout_minutes"])
        except (TypeError, ValueError):
            minutes = -1
        if not 0 <= minutes <= 7 * 24 * 60:
            errors["idle_timeout_minutes"] = ["Between 0 (never) and 10080 minutes (a week)."]
        channel.idle_timeout_minutes = max(minutes, 0)
    if "allowed_origins" in changes:
        try:
            channel.allowed_origins = _clean_origins(changes["allowed_origins"] or [])
        except ValidationFailed as error:
            errors.update(error.field_errors)
    for field in ("is_active", "require_identity", "pre_chat_form"):
        if field in changes:
            setattr(channel, field, bool(changes[field]))
    if "business_hours" in changes:
        hours = changes["business_hours"]
        if hours is not None and not isinstance(hours, BusinessHours):
            errors["business_hours"] = ["Unknown business hours."]
        else:
            channel.business_hours = hours
    if "team" in changes:
        team = changes["team"]
        if team is not None and not isinstance(team, Team):
            errors["team"] = ["Unknown team."]
        else:
            channel.team = team
    if errors:
        raise ValidationFailed("The chat channel is not valid.", field_errors=errors)
    if "avatar" in changes and changes["avatar"]:
        channel.avatar = changes["avatar"]
    channel.save()
    return channel


@transaction.atomic
def regenerate_identity_secret(*, actor: Any, channel: ChatChannel) -> ChatChannel:
    """A new identity secret: signatures made with the old one stop working at once."""
    policy.require(policy.can_manage_chat_channels(actor), "Only admins manage chat channels.")
    channel.identity_secret = new_identity_secret()
    channel.save(update_fields=["identity_secret", "updated_at"])
    return channel


# --- visitors ------------------------------------------------------------------------------


def _clean_attributes(attributes: dict[str, Any] | None) -> dict[str, str]:
    if not attributes:
        return {}
    if not isinstance(attributes, dict):
        raise ValidationFailed("Attributes must be an object of names and values.")
    if len(attributes) > ATTRIBUTES_MAX_KEYS:
        raise LimitExceeded(f"Too many attributes: at most {ATTRIBUTES_MAX_KEYS}.")
    cleaned: dict[str, str] = {}
    for key, value in attributes.items():
        name = str(key).strip()[:64]
        if name:
            cleaned[name] = "" if value is None else str(value)[:ATTRIBUTE_VALUE_MAX_CHARS]
    return cleaned


def _issue_token(visitor: ChatVisitor) -> str:
    token = "cv_" + secrets.token_urlsafe(32)
    ChatVisitorToken.objects.create(visitor=visitor, token_hash=services.hash_token(token))
    return token


def _new_anonymous_visitor(channel: ChatChannel, name: str) -> ChatVisitor:
    label = " ".join(name.split())[:200]
    customer = customer_actions.create_customer(
        actor=None, name=label or "Chat visitor", language=channel.language
    )
    visitor = ChatVisitor.objects.create(channel=channel, customer=customer, name=label)
    if not label:
        # A name agents can tell apart in the inbox until the visitor gives theirs.
        customer.name = f"Visitor {visitor.pk}"
        customer.save(update_fields=["name", "updated_at"])
    return visitor


def _identified_visitor(
    channel: ChatChannel, *, user_id: str, email: str, name: str
) -> ChatVisitor:
    visitor = (
        ChatVisitor.objects.select_related("customer")
        .filter(channel=channel, external_id=user_id)
        .first()
    )
    if visitor is not None:
        changed: list[str] = []
        if email and visitor.email != email:
            visitor.email, changed = email, [*changed, "email"]
        if name and visitor.name != name:
            visitor.name, changed = name, [*changed, "name"]
        if changed:
            visitor.save(update_fields=[*changed, "updated_at"])
        return visitor
    if email:
        # The host vouched for this address: the visitor is that customer.
        customer = customer_actions.find_or_create_customer_by_email(email=email, name=name)
    else:
        customer = customer_actions.create_customer(
            actor=None, name=name or f"User {user_id}", language=channel.language
        )
    return ChatVisitor.objects.create(
        channel=channel, customer=customer, external_id=user_id, name=name, email=email
    )


@transaction.atomic
def start_visitor(
    *,
    channel: ChatChannel,
    token: str = "",
    identity: dict[str, Any] | None = None,
    name: str = "",
    attributes: dict[str, Any] | None = None,
) -> tuple[ChatVisitor, str]:
    """The visitor behind a widget, and the token its browser keeps (new or the one it sent).

    * ``identity`` ({user_id, email, name, signature}) must carry a valid HMAC
      signature, else nothing happens and ``IdentityRefused`` says why;
    * without one, a token the browser kept resumes its anonymous visitor; a
      token of an identified visitor is not enough on its own (the host site
      signed the user out), so a fresh anonymous visitor starts instead.
    """
    now = timezone.now()
    existing = services.visitor_for_token(channel=channel, token=token) if token else None
    if identity:
        user_id = str(identity.get("user_id") or "").strip()[:200]
        email = str(identity.get("email") or "").strip().lower()
        verify_identity(
            channel.identity_secret,
            user_id=user_id,
            email=email,
            signature=str(identity.get("signature") or ""),
        )
        if email:
            _require_email(email)
        visitor = _identified_visitor(
            channel,
            user_id=user_id,
            email=email,
            name=" ".join(str(identity.get("name") or "").split())[:200],
        )
        keep = existing is not None and existing.pk == visitor.pk
        if existing is not None and not keep and not existing.is_identified:
            # Signed in on the host site after chatting anonymously in this browser.
            _adopt_anonymous_chats(existing, into=visitor)
    else:
        if channel.require_identity:
            raise IdentityRefused(
                "This chat is for signed-in users: the site must identify the visitor."
            )
        if existing is not None and not existing.is_identified:
            visitor, keep = existing, True
        else:
            visitor, keep = _new_anonymous_visitor(channel, name), False
    if attributes:
        visitor.attributes = {**visitor.attributes, **_clean_attributes(attributes)}
        if len(visitor.attributes) > ATTRIBUTES_MAX_KEYS:
            raise LimitExceeded(f"Too many attributes: at most {ATTRIBUTES_MAX_KEYS}.")
    visitor.last_seen_at = now
    visitor.save(update_fields=["attributes", "last_seen_at", "updated_at"])
    if keep:
        ChatVisitorToken.objects.filter(token_hash=services.hash_token(token)).update(
            last_used_at=now
        )
        return visitor, token
    return visitor, _issue_token(visitor)


def _adopt_anonymous_chats(anonymous: ChatVisitor, *, into: ChatVisitor) -> int:
    """The chats an anonymous visitor had in this browser become the signed-in visitor's.

    The browser's token proves it was this anonymous visitor and the host's
    signature proves who is signed in now, so the conversations (and their
    tickets, whose requester changes in the audit trail) follow the person,
    as they do in Intercom. Only chat tickets move: an email typed into the
    pre-chat form was never proven, so the anonymous customer record, with
    anything that reached it by email, stays where it is. The anonymous
    visitor's tokens are revoked: nothing is left behind them.
    """
    conversations = list(
        ChatConversation.objects.select_related("ticket").filter(visitor=anonymous)
    )
    target = into.customer
    for conversation in conversations:
        ticket = conversation.ticket
        if ticket.requester_id == anonymous.customer_id:
            ticket_actions.update_ticket(
                actor=None, ticket=ticket, changes={"requester": target}, via=Channel.CHAT
            )
            # Their earlier messages were theirs too (the portal shows "you").
            ticket.entries.filter(author_customer_id=anonymous.customer_id).update(
                author_customer=target
            )
    ChatConversation.objects.filter(visitor=anonymous).update(visitor=into)
    ChatVisitorToken.objects.filter(visitor=anonymous).delete()
    return len(conversations)


def _require_email(email: str) -> str:
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationFailed(
            f"{email} is not an email address.", field_errors={"email": ["Not an email address."]}
        ) from error
    return email


@transaction.atomic
def update_visitor_details(
    *,
    visitor: ChatVisitor,
    name: str = "",
    email: str = "",
    attributes: dict[str, Any] | None = None,
) -> ChatVisitor:
    """The pre-chat form (name, email) and host attributes of a visitor.

    An anonymous visitor's email is unproven: it is kept for replies by email
    and added to their own customer record only when no other customer owns
    it, so typing someone else's address never reveals that person's chats.
    """
    name = " ".join(name.split())[:200]
    email = email.strip().lower()
    if email:
        _require_email(email)
    if visitor.is_identified and (email or name):
        raise Conflict("The host site identified this visitor; their name and email come from it.")
    customer = visitor.customer
    if name:
        visitor.name = name
        customer.name = name
        customer.save(update_fields=["name", "updated_at"])
    if email and email != visitor.email:
        visitor.email = email
        taken = CustomerIdentity.objects.filter(kind=IdentityKind.EMAIL, value=email).exists()
        if not taken and not customer.identities.filter(kind=IdentityKind.EMAIL).exists():
            customer_actions.add_identity(
                actor=None, customer=customer, kind=IdentityKind.EMAIL, value=email
            )
    if attributes:
        visitor.attributes = {**visitor.attributes, **_clean_attributes(attributes)}
        if len(visitor.attributes) > ATTRIBUTES_MAX_KEYS:
            raise LimitExceeded(f"Too many attributes: at most {ATTRIBUTES_MAX_KEYS}.")
    visitor.save(update_fields=["name", "email", "attributes", "updated_at"])
    return visitor


# --- limits ------------------------------------------------------------------------------


def check_rate(
    visitor_id: int | str,
    *,
    kind: str = "message",
    limit: int | None = None,
    window: int | None = None,
) -> None:
    """Counts one action of a visitor; raises RateLimited past the limit in the window.

    A fixed window in the shared cache (Redis in the scaled profile), so the
    limit holds across server nodes. Defaults: ``CHAT_RATE_LIMIT_MESSAGES``
    per ``CHAT_RATE_LIMIT_WINDOW_SECONDS``.
    """
    if limit is None:
        limit = int(getattr(settings, "CHAT_RATE_LIMIT_MESSAGES", 20))
    if window is None:
        window = int(getattr(settings, "CHAT_RATE_LIMIT_WINDOW_SECONDS", 10))
    slot = int(timezone.now().timestamp()) // window
    key = f"chat:rate:{kind}:{visitor_id}:{slot}"
    if cache.add(key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window + 1)
            count = 1
    if count > limit:
        what = "messages" if kind == "message" else "requests"
        raise RateLimited(
            f"Too many {what}: at most {limit} every {window} seconds. Wait a moment."
        )


def _validate_message(body: str, attachments: Sequence[NewAttachment]) -> str:
    limit = message_max_chars()
    if len(body) > limit:
        raise LimitExceeded(f"The message is {len(body)} characters; the chat limit is {limit}.")
    if not body.strip() and not attachments:
        raise ValidationFailed("The message is empty.", field_errors={"body": ["Required."]})
    return body


# --- conversations ----------------------------------------------------------------------


def _subject(body: str, attachments: Sequence[NewAttachment]) -> str:
    first_line = " ".join(body.strip().split("\n", 1)[0].split())
    if not first_line and attachments:
        first_line = attachments[0].filename
    if len(first_line) > SUBJECT_SNIPPET_CHARS:
        first_line = first_line[: SUBJECT_SNIPPET_CHARS - 1] + "…"
    return f"Chat: {first_line or 'new conversation'}"


@transaction.atomic
def start_conversation(
    *,
    visitor: ChatVisitor,
    body: str,
    attachments: Sequence[NewAttachment] = (),
    page_url: str = "",
) -> tuple[ChatConversation, Entry]:
    """A new chat: a ticket on channel "chat" whose first entry is the visitor's message."""
    _validate_message(body, attachments)
    channel = visitor.channel
    ticket = ticket_actions.create_ticket(
        actor=None,
        requester=visitor.customer,
        subject=_subject(body, attachments),
        body=body if body.strip() else "(attachment)",
        channel=Channel.CHAT,
        team=channel.team,
        attachments=attachments,
        metadata={
            "chat": {
                "channel_id": channel.pk,
                "visitor_id": visitor.pk,
                "page_url": page_url[:500],
                "attributes": visitor.attributes,
            }
        },
    )
    entry = ticket.entries.get()
    _note_request_opened(visitor, ticket)
    conversation = ChatConversation.objects.create(
        ticket=ticket,
        channel=channel,
        visitor=visitor,
        page_url=page_url[:500],
        last_message_at=entry.created_at,
        visitor_read_entry_id=entry.pk,
    )
    return conversation, entry


@transaction.atomic
def send_visitor_message(
    *,
    visitor: ChatVisitor,
    body: str,
    ticket_id: int | None = None,
    attachments: Sequence[NewAttachment] = (),
    page_url: str = "",
) -> tuple[ChatConversation, Entry]:
    """A visitor's message: into their chat ``ticket_id``, or a new chat when none is open.

    An ended chat whose ticket is still open takes the message and becomes
    active again; a closed ticket takes none, so the message opens a new chat.
    """
    check_rate(visitor.pk)
    _validate_message(body, attachments)
    if ticket_id is None:
        return start_conversation(
            visitor=visitor, body=body, attachments=attachments, page_url=page_url
        )
    conversation = services.get_visitor_conversation(visitor=visitor, ticket_id=ticket_id)
    ticket = conversation.ticket
    if ticket.status == Status.CLOSED or ticket.merged_into_id:
        return start_conversation(
            visitor=visitor, body=body, attachments=attachments, page_url=page_url
        )
    entry = ticket_actions.add_entry(
        actor=None,
        ticket=ticket,
        body=body if body.strip() else "(attachment)",
        kind=EntryKind.PUBLIC_REPLY,
        channel=Channel.CHAT,
        attachments=attachments,
        author_customer=visitor.customer,
        metadata={"chat": {"visitor_id": visitor.pk}},
    )
    conversation = ChatConversation.objects.select_for_update().get(pk=conversation.pk)
    conversation.last_message_at = entry.created_at
    conversation.visitor_read_entry_id = max(conversation.visitor_read_entry_id, entry.pk)
    if conversation.status != ConversationStatus.ACTIVE:
        conversation.status = ConversationStatus.ACTIVE
        conversation.ended_at = None
        conversation.ended_reason = ""
    conversation.save()
    return conversation, entry


@transaction.atomic
def mark_read_by_visitor(*, visitor: ChatVisitor, ticket_id: int, entry_id: int) -> None:
    """The visitor saw everything up to ``entry_id``; agents see a read receipt."""
    conversation = services.get_visitor_conversation(visitor=visitor, ticket_id=ticket_id)
    conversation = ChatConversation.objects.select_for_update().get(pk=conversation.pk)
    newest = (
        Entry.objects.filter(ticket_id=ticket_id, kind=EntryKind.PUBLIC_REPLY, pk__lte=entry_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if newest is None or newest <= conversation.visitor_read_entry_id:
        return
    conversation.visitor_read_entry_id = newest
    conversation.save(update_fields=["visitor_read_entry_id", "updated_at"])
    publish(
        stream=f"ticket.{ticket_id}",
        kind="chat.read",
        data={"ticket_id": ticket_id, "reader": "visitor", "entry_id": newest},
    )


@transaction.atomic
def mark_read_by_agent(*, actor: Any, ticket_id: int) -> int | None:
    """An agent saw the chat: the visitor sees "Read" under their messages.

    Called when an agent opens or answers the chat; returns the entry id read.
    """
    policy.require(policy.is_staff(actor), "Only agents read chats.")
    conversation = ChatConversation.objects.select_for_update().filter(ticket_id=ticket_id).first()
    if conversation is None:
        return None
    newest = (
        Entry.objects.filter(ticket_id=ticket_id, kind=EntryKind.PUBLIC_REPLY)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if newest is None or newest <= conversation.agent_read_entry_id:
        return conversation.agent_read_entry_id
    conversation.agent_read_entry_id = newest
    conversation.save(update_fields=["agent_read_entry_id", "updated_at"])
    publish(
        stream=f"ticket.{ticket_id}.public",
        kind="read",
        data={"ticket_id": ticket_id, "reader": "agent", "entry_id": newest},
    )
    return newest


def _end(conversation: ChatConversation, *, reason: str, now: datetime) -> None:
    conversation.status = ConversationStatus.ENDED
    conversation.ended_at = now
    conversation.ended_reason = reason
    conversation.save(update_fields=["status", "ended_at", "ended_reason", "updated_at"])
    publish(
        stream=f"ticket.{conversation.ticket_id}.public",
        kind="chat.ended",
        data={"ticket_id": conversation.ticket_id, "reason": reason},
    )
    publish(
        stream=f"ticket.{conversation.ticket_id}",
        kind="chat.ended",
        data={"ticket_id": conversation.ticket_id, "reason": reason},
    )


@transaction.atomic
def end_conversation(*, visitor: ChatVisitor, ticket_id: int) -> ChatConversation:
    """The visitor closed the chat; the ticket stays as it is for the team."""
    conversation = services.get_visitor_conversation(visitor=visitor, ticket_id=ticket_id)
    conversation = ChatConversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.is_active:
        _end(conversation, reason="visitor", now=timezone.now())
    return conversation


def _answered(ticket: Ticket) -> bool:
    """The last public message is the team's: nothing waits for an answer."""
    last = (
        Entry.objects.filter(ticket=ticket, kind=EntryKind.PUBLIC_REPLY)
        .order_by("-created_at", "-id")
        .values_list("author_user_id", flat=True)
        .first()
    )
    return last is not None


def close_idle_conversations(*, now: datetime | None = None) -> int:
    """Ends chats idle past their channel's timeout; returns how many ended. Safe to run twice.

    An answered chat's ticket is solved (a later message from the visitor,
    by chat or by email, reopens it); an unanswered one stays open in the
    inbox and the team answers by email. Visitors with an email address get
    the transcript, whose replies continue the ticket by email.
    """
    now = now or timezone.now()
    ended = 0
    for candidate in services.idle_conversations(now=now):
        timeout = timedelta(minutes=candidate.channel.idle_timeout_minutes)
        if candidate.last_message_at > now - timeout:
            continue
        with transaction.atomic():
            conversation = (
                ChatConversation.objects.select_for_update()
                .select_related("ticket", "visitor__customer")
                .filter(pk=candidate.pk, status=ConversationStatus.ACTIVE)
                .first()
            )
            if conversation is None:
                continue
            _end(conversation, reason="idle", now=now)
            ticket = conversation.ticket
            if ticket.is_unsolved and _answered(ticket):
                try:
                    ticket_actions.update_ticket(
                        actor=None, ticket=ticket, changes={"status": Status.SOLVED}, via="chat"
                    )
                except ValidationFailed:
                    pass  # required fields missing: the agent solves it by hand
            email = conversation.visitor.email or conversation.visitor.customer.primary_email
            if email:
                _queue_transcript(conversation, email=email, reason="idle", now=now)
            ended += 1
    return ended


def _queue_transcript(
    conversation: ChatConversation, *, email: str, reason: str, now: datetime
) -> None:
    from concierge.chat import tasks

    enqueue_after_commit(tasks.send_transcript, conversation.pk, email, reason, now.isoformat())


@transaction.atomic
def request_transcript(*, visitor: ChatVisitor, ticket_id: int, email: str = "") -> str:
    """Emails the chat's transcript to the visitor; returns the address used."""
    conversation = services.get_visitor_conversation(visitor=visitor, ticket_id=ticket_id)
    email = (email or visitor.email or visitor.customer.primary_email).strip().lower()
    if not email:
        raise ValidationFailed(
            "Which address should we send the transcript to?",
            field_errors={"email": ["Required."]},
        )
    _require_email(email)
    check_rate(visitor.pk, kind="transcript")
    # One transcript a minute per chat: enough for a person, useless for a mail bomb.
    if not cache.add(f"chat:transcript:{conversation.pk}", 1, timeout=60):
        raise RateLimited("The transcript was just sent; you can ask again in a minute.")
    now = timezone.now()
    _queue_transcript(conversation, email=email, reason="requested", now=now)
    return email


# --- when nobody answers live ---------------------------------------------------------------


@transaction.atomic
def leave_offline_message(
    *,
    channel: ChatChannel,
    email: str,
    body: str,
    name: str = "",
    visitor: ChatVisitor | None = None,
    page_url: str = "",
) -> Ticket:
    """Outside business hours or with no agent online: the message becomes an email ticket.

    The requester is whoever owns ``email`` (created on first contact), as if
    they had written to the support address; the visitor only learns that the
    team will answer by email, so nothing about that customer leaks back.
    """
    email = email.strip().lower()
    if not email:
        raise ValidationFailed(
            "Leave your email address so we can answer.", field_errors={"email": ["Required."]}
        )
    _require_email(email)
    if visitor is not None:
        check_rate(visitor.pk)
    else:
        check_rate(0, kind=f"offline:{channel.pk}:{email}")
    _validate_message(body, ())
    name = " ".join(name.split())[:200]
    customer = customer_actions.find_or_create_customer_by_email(email=email, name=name)
    ticket = ticket_actions.create_ticket(
        actor=None,
        requester=customer,
        subject=_subject(body, ()).replace("Chat:", "Chat message:", 1),
        body=body,
        channel=Channel.EMAIL,
        team=channel.team,
        metadata={
            "chat": {
                "channel_id": channel.pk,
                "offline": True,
                "visitor_id": visitor.pk if visitor else None,
                "page_url": page_url[:500],
            }
        },
    )
    if visitor is not None:
        _note_request_opened(visitor, ticket)
    return ticket


def visitor_typing(*, visitor: ChatVisitor, ticket_id: int, is_typing: bool) -> dict[str, Any]:
    """What agents see while the visitor types (checked, then signalled by the caller)."""
    services.get_visitor_conversation(visitor=visitor, ticket_id=ticket_id)
    return {
        "ticket_id": ticket_id,
        "who": "customer",
        "name": visitor.name or visitor.customer.name,
        "is_typing": bool(is_typing),
    }


# --- help articles suggested in the widget (deflection) --------------------------------------


def help_session_key(visitor: ChatVisitor) -> str:
    """The visitor's current help session, started anew once the last one's 24 h have passed.

    A widget visitor keeps their token for weeks; one help session per visit
    (the portal's unit: its Django session) is what the self-service rate
    counts, so a session whose window is over is closed and a new one begins.
    """
    key = visitor.help_session_key
    if key:
        window_over = HelpSession.objects.filter(
            key=key, first_content_at__lt=timezone.now() - SELF_SERVICE_WINDOW
        ).exists()
        if not window_over:
            return key
    key = knowledge_actions.new_session_key()
    ChatVisitor.objects.filter(pk=visitor.pk).update(help_session_key=key)
    visitor.help_session_key = key
    return key


def record_help_event(
    *,
    visitor: ChatVisitor,
    kind: str,
    article_ids: Sequence[int],
    locale: str = "",
    client_address: str = "",
) -> int:
    """Records suggestions shown, or a suggestion opened (a click and a view), for a visitor.

    Uses the help center's own records (``knowledge.actions.record_event``), so
    the reports and the self-service rate count widget visits with portal ones.
    Past the help center's event limits nothing more is recorded, but the
    visitor still gets their suggestions: analytics never block help. Returns
    how many events were stored.
    """
    kinds = (
        [kind]
        if kind != EventKind.SUGGESTION_CLICK
        else [EventKind.SUGGESTION_CLICK, EventKind.VIEW]
    )
    key = help_session_key(visitor)
    stored = 0
    try:
        for article_id in article_ids:
            for event_kind in kinds:
                event = knowledge_actions.record_event(
                    session_key=key,
                    kind=event_kind,
                    article_id=article_id,
                    locale=locale,
                    customer=visitor.customer,
                    client_address=client_address,
                    channel=HelpChannel.CHAT,
                )
                stored += event is not None
    except LimitExceeded:
        pass
    return stored


def _note_request_opened(visitor: ChatVisitor, ticket: Ticket) -> None:
    """The visitor opened a request (a chat or an offline message) after help was offered."""
    # Read fresh: a socket keeps its visitor object for hours, while the key is
    # set by the HTTP endpoint that served the suggestions.
    key = ChatVisitor.objects.filter(pk=visitor.pk).values_list("help_session_key", flat=True)
    session_key = key.first() or ""
    if session_key:
        knowledge_actions.note_request_opened(session_key=session_key, ticket=ticket)
