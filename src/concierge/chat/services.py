"""Reads for live chat: channels, visitors, what a visitor may see, whether anyone is online.

Visitor reads take the visitor record (proved by a token, see
``visitor_for_token``) rather than a user, and ask ``core.policy`` which
conversations are theirs. Payloads for the widget are built here so that
every way a visitor receives an entry (history, live event, replay) shows
the same fields and nothing more: public replies only, never a note.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.db.models import Q, QuerySet
from django.utils import timezone

from concierge.accounts.models import Availability, Role, User
from concierge.automation import services as automation_services
from concierge.chat.models import ChatChannel, ChatConversation, ChatVisitor, ChatVisitorToken
from concierge.core import policy, presence
from concierge.core.errors import NotFound
from concierge.core.models import AgentPresence
from concierge.knowledge import services as knowledge_services
from concierge.knowledge.locales import accept_language_locales, choose_locale, normalize_locale
from concierge.knowledge.models import Article, ArticleAttachment
from concierge.tickets.models import Attachment, Entry, EntryKind

ATTACHMENT_LINK_SALT = "concierge.chat.attachment"
ATTACHMENT_LINK_MAX_AGE_SECONDS = 7 * 24 * 3600
# Images and files of articles for signed-in customers, read in the widget:
# the help center's own file address needs a portal session the host site's
# page does not have, so the widget gets links signed for its visitor.
HELP_FILE_LINK_SALT = "concierge.chat.help-file"
HELP_FILE_LINK_MAX_AGE_SECONDS = 24 * 3600
HISTORY_MAX_ENTRIES = 200
HISTORY_MAX_CONVERSATIONS = 20
SUGGESTIONS_SHOWN = 3


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- channels ---------------------------------------------------------------------


def get_active_channel(*, public_key: str) -> ChatChannel:
    """The active channel with this public key, or NotFound."""
    channel = (
        ChatChannel.objects.select_related("business_hours", "team")
        .filter(public_key=public_key, is_active=True)
        .first()
    )
    if channel is None:
        raise NotFound("No chat channel with this key.")
    return channel


def list_channels(*, user: Any) -> QuerySet[ChatChannel]:
    policy.require(policy.can_manage_chat_channels(user), "Only admins manage chat channels.")
    return ChatChannel.objects.select_related("business_hours", "team").order_by("name")


def get_channel(*, user: Any, channel_id: int) -> ChatChannel:
    channel = list_channels(user=user).filter(pk=channel_id).first()
    if channel is None:
        raise NotFound("No such chat channel.")
    return channel


def normalize_origin(origin: str) -> str:
    """``https://Example.com:443/path`` -> ``https://example.com``; "" when not an origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return ""
    default_port = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = parts.hostname.lower() + (f":{port}" if port and port != default_port else "")
    return f"{parts.scheme}://{netloc}"


def origin_allowed(channel: ChatChannel, origin: str | None) -> bool:
    """Whether a page on ``origin`` may use this channel.

    Entries are exact origins (``https://shop.example.com``) or a wildcard for
    subdomains (``https://*.example.com``). A request without an Origin is
    refused: every browser sends one on WebSocket and cross-site requests.
    """
    wanted = normalize_origin(origin or "")
    if not wanted:
        return False
    scheme, _, host = wanted.partition("://")
    for allowed in channel.allowed_origins or []:
        allowed = str(allowed).strip().lower().rstrip("/")
        if allowed.startswith(f"{scheme}://*."):
            suffix = allowed.split("://*.", 1)[1]
            if host.endswith("." + suffix):
                return True
        elif normalize_origin(allowed) == wanted:
            return True
    return False


@dataclass(frozen=True)
class ChannelState:
    """Whether chats are answered live right now, and why not."""

    within_business_hours: bool
    agents_online: int
    next_opening: datetime | None

    @property
    def is_online(self) -> bool:
        return self.within_business_hours and self.agents_online > 0


def agents_online(channel: ChatChannel) -> int:
    """Agents who could answer now: active full agents (of the channel's team) who chose
    online *and* have a workspace connected, the same rule assignment uses
    (``automation.assignment.assignable_agent_ids``): a closed laptop answers no chat."""
    agents = User.objects.filter(
        role__in=[Role.ADMIN, Role.AGENT], is_active=True, availability=Availability.ONLINE
    )
    if channel.team_id:
        agents = agents.filter(teams=channel.team_id)
    connected = AgentPresence.objects.filter(
        last_seen_at__gte=timezone.now() - presence.offline_after()
    ).values("user_id")
    return agents.filter(pk__in=connected).count()


def channel_state(channel: ChatChannel, *, at: datetime | None = None) -> ChannelState:
    at = at or timezone.now()
    hours = channel.business_hours
    within = automation_services.is_open(hours=hours, at=at)
    return ChannelState(
        within_business_hours=within,
        agents_online=agents_online(channel) if within else 0,
        next_opening=None if within else automation_services.next_opening(hours=hours, at=at),
    )


def widget_config(channel: ChatChannel) -> dict[str, Any]:
    """What the widget shows before anyone writes: looks, texts, whether we are online."""
    state = channel_state(channel)
    return {
        "channel": channel.public_key,
        "title": channel.title,
        "greeting": channel.greeting,
        "offline_message": channel.offline_message,
        "primary_color": channel.primary_color,
        "text_color": channel.text_color,
        "language": channel.language,
        "avatar_url": f"/widget/{channel.public_key}/avatar/" if channel.avatar else "",
        "pre_chat_form": channel.pre_chat_form,
        "require_identity": channel.require_identity,
        "online": state.is_online,
        "within_business_hours": state.within_business_hours,
        "next_opening": state.next_opening.isoformat() if state.next_opening else None,
    }


# --- visitors -----------------------------------------------------------------------


def visitor_for_token(*, channel: ChatChannel, token: str) -> ChatVisitor | None:
    """The visitor a widget token belongs to (in this channel), or None."""
    if not token or len(token) > 200:
        return None
    found = (
        ChatVisitorToken.objects.select_related("visitor__customer", "visitor__channel")
        .filter(token_hash=hash_token(token), visitor__channel=channel)
        .first()
    )
    return found.visitor if found is not None else None


def visitor_conversations(*, visitor: ChatVisitor) -> list[ChatConversation]:
    """The visitor's chats in this channel, newest first (their customer's earlier chats too)."""
    return list(
        ChatConversation.objects.select_related("ticket", "channel")
        .filter(channel_id=visitor.channel_id, ticket__requester_id=visitor.customer_id)
        .order_by("-last_message_at", "-id")[:HISTORY_MAX_CONVERSATIONS]
    )


def get_visitor_conversation(*, visitor: ChatVisitor, ticket_id: int) -> ChatConversation:
    """One of the visitor's chats by ticket number; NotFound for anyone else's."""
    conversation = (
        ChatConversation.objects.select_related("ticket", "channel", "visitor")
        .filter(ticket_id=ticket_id)
        .first()
    )
    if conversation is None or not policy.visitor_may_see_conversation(visitor, conversation):
        raise NotFound("No such conversation.")
    return conversation


def visitor_streams(*, visitor: ChatVisitor) -> list[str]:
    """The only event streams a visitor's socket may join: the public side of their chats."""
    return [
        f"ticket.{conversation.ticket_id}.public"
        for conversation in visitor_conversations(visitor=visitor)
    ]


# --- entries as the widget shows them ----------------------------------------------------


def attachment_link(attachment_id: int, visitor_id: int) -> str:
    """A signed, expiring download path for one attachment, for one visitor."""
    token = signing.dumps({"a": attachment_id, "v": visitor_id}, salt=ATTACHMENT_LINK_SALT)
    return f"/widget/files/{token}/"


def attachment_for_link(token: str) -> Attachment:
    """The attachment a signed link names, if the link is genuine, fresh and still public."""
    try:
        data = signing.loads(
            token, salt=ATTACHMENT_LINK_SALT, max_age=ATTACHMENT_LINK_MAX_AGE_SECONDS
        )
    except signing.BadSignature as error:
        raise NotFound("This download link is not valid or has expired.") from error
    attachment = (
        Attachment.objects.select_related("entry__ticket")
        .filter(pk=data.get("a"), entry__kind=EntryKind.PUBLIC_REPLY)
        .first()
    )
    visitor = ChatVisitor.objects.filter(pk=data.get("v")).first()
    if attachment is None or visitor is None:
        raise NotFound("No such file.")
    conversation = ChatConversation.objects.filter(ticket_id=attachment.entry.ticket_id).first()
    if conversation is None or not policy.visitor_may_see_conversation(visitor, conversation):
        raise NotFound("No such file.")
    return attachment


def help_file_link(attachment_id: int, visitor_id: int) -> str:
    """A signed, expiring path to one article file, for one widget visitor."""
    token = signing.dumps({"f": attachment_id, "v": visitor_id}, salt=HELP_FILE_LINK_SALT)
    return f"/widget/help-files/{token}/"


def help_file_for_link(token: str) -> ArticleAttachment:
    """The article file a signed link names, if the link is genuine and fresh and its
    visitor may still read the article (an article made agents-only since: NotFound)."""
    try:
        data = signing.loads(
            token, salt=HELP_FILE_LINK_SALT, max_age=HELP_FILE_LINK_MAX_AGE_SECONDS
        )
    except signing.BadSignature as error:
        raise NotFound("This file link is not valid or has expired.") from error
    visitor = ChatVisitor.objects.filter(pk=data.get("v")).first()
    if visitor is None:
        raise NotFound("No such file.")
    return knowledge_services.get_attachment(
        user=help_reader(visitor), attachment_id=int(data.get("f") or 0)
    )


def entry_payload(entry: Entry, *, visitor: ChatVisitor) -> dict[str, Any]:
    """One public entry as the widget draws it; raises for anything but a public reply."""
    if entry.kind != EntryKind.PUBLIC_REPLY:  # never a note or a system event
        raise NotFound("No such message.")
    author = entry.author_user
    from_visitor = entry.author_user_id is None
    avatar = ""
    if author is not None and author.avatar:
        avatar = f"/widget/agents/{author.pk}/avatar/"
    return {
        "id": entry.pk,
        "ticket_id": entry.ticket_id,
        "from": "visitor" if from_visitor else "agent",
        "author_name": entry.author_name if not from_visitor else "You",
        "author_avatar_url": avatar,
        "body_html": entry.body_html,
        "created_at": entry.created_at.isoformat(),
        "attachments": [
            {
                "filename": attachment.filename,
                "size": attachment.size,
                "content_type": attachment.content_type,
                "url": attachment_link(attachment.pk, visitor.pk),
            }
            for attachment in entry.attachments.all()
        ],
    }


def _public_entries() -> QuerySet[Entry]:
    return (
        Entry.objects.filter(kind=EntryKind.PUBLIC_REPLY)
        .select_related("author_user", "author_customer")
        .prefetch_related("attachments")
    )


def visitor_entry(*, visitor: ChatVisitor, entry_id: int) -> dict[str, Any] | None:
    """A live event's entry, re-read and re-checked for this visitor; None when not theirs."""
    entry = _public_entries().select_related("ticket").filter(pk=entry_id).first()
    if entry is None:
        return None
    conversation = ChatConversation.objects.filter(ticket_id=entry.ticket_id).first()
    if conversation is None:
        return None
    conversation.ticket = entry.ticket
    if not policy.visitor_may_see_conversation(visitor, conversation):
        return None
    return entry_payload(entry, visitor=visitor)


def conversation_payload(
    conversation: ChatConversation, *, visitor: ChatVisitor, with_entries: bool = True
) -> dict[str, Any]:
    ticket = conversation.ticket
    payload: dict[str, Any] = {
        "ticket_id": ticket.pk,
        "subject": ticket.subject,
        "status": conversation.status,
        "ticket_status": ticket.status,
        "last_message_at": conversation.last_message_at.isoformat(),
        "agent_read_entry_id": conversation.agent_read_entry_id,
        "visitor_read_entry_id": conversation.visitor_read_entry_id,
    }
    if with_entries:
        entries = list(
            _public_entries()
            .filter(ticket_id=ticket.pk)
            .order_by("-created_at", "-id")[:HISTORY_MAX_ENTRIES]
        )
        payload["entries"] = [entry_payload(e, visitor=visitor) for e in reversed(entries)]
    return payload


def visitor_history(*, visitor: ChatVisitor) -> dict[str, Any]:
    """Everything the widget shows on load: who the visitor is and their chats."""
    conversations = visitor_conversations(visitor=visitor)
    return {
        "visitor": {
            "name": visitor.name,
            "email": visitor.email,
            "identified": visitor.is_identified,
        },
        "conversations": [
            conversation_payload(c, visitor=visitor, with_entries=index == 0)
            for index, c in enumerate(conversations)
        ],
    }


def transcript_entries(conversation: ChatConversation) -> list[Entry]:
    return list(_public_entries().filter(ticket_id=conversation.ticket_id).order_by("created_at"))


def idle_conversations(*, now: datetime | None = None) -> QuerySet[ChatConversation]:
    """Active chats whose channel's idle timeout has passed since the last message.

    Narrowed in the database by the shortest possible timeout (one minute),
    then checked per channel by the caller.
    """
    now = now or timezone.now()
    return (
        ChatConversation.objects.select_related("channel", "ticket", "visitor__customer")
        .filter(status="active", last_message_at__lt=now - timedelta(minutes=1))
        .filter(~Q(channel__idle_timeout_minutes=0))
    )


# --- help articles offered in the widget (deflection) ----------------------------------------


def visitor_help_locale(*, channel: ChatChannel, requested: str, accept_language: str) -> str:
    """The help center language for a visitor: the browser's choice, then the channel's."""
    branding = knowledge_services.help_center_settings()
    wanted = [
        normalize_locale(requested),
        *accept_language_locales(accept_language),
        normalize_locale(channel.language),
    ]
    return choose_locale(
        requested=[locale for locale in wanted if locale],
        offered=branding.offered_locales,
        default=branding.default_locale,
    )


def help_reader(visitor: ChatVisitor) -> Any:
    """Who reads the help center through the widget, for the access policy.

    A visitor is not a signed-in user. An anonymous one reads as
    ``AnonymousUser`` (the policy keeps drafts, agents-only and signed-in
    articles out); one the host site identified with a signed identity reads
    as ``policy.IdentifiedVisitor``, which adds the articles for signed-in
    customers and nothing else.
    """
    if visitor.is_identified:
        return policy.IdentifiedVisitor(customer_id=visitor.customer_id)
    return AnonymousUser()


def help_suggestions(
    *, visitor: ChatVisitor, text: str, locale: str, limit: int = SUGGESTIONS_SHOWN
) -> list[knowledge_services.ArticleHit]:
    """Articles that may answer what ``visitor`` is typing, as they may read them."""
    return knowledge_services.suggest_articles(
        user=help_reader(visitor), text=text, locale=locale, limit=limit
    )


def help_article(*, visitor: ChatVisitor, article_id: int, locale: str) -> Article:
    """A published article ``visitor`` may read, in ``locale`` (or its fallback); NotFound
    otherwise (drafts, agents-only ones, and signed-in ones for anonymous visitors)."""
    return knowledge_services.get_localized_article(
        user=help_reader(visitor), article_id=article_id, locale=locale
    )
