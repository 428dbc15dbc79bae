"""Reads for the email channel: mailboxes and the inbound log (admins only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from concierge.core import policy
from concierge.core.errors import NotFound
from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
from concierge.mail.threading import reply_address
from concierge.tickets.models import Ticket


def list_mailboxes(*, user: Any) -> QuerySet[Mailbox]:
    """Every mailbox, for admins configuring the desk."""
    policy.require(policy.can_manage_settings(user), "Only admins manage mailboxes.")
    return Mailbox.objects.select_related("default_team")


def get_mailbox(*, user: Any, mailbox_id: int) -> Mailbox:
    """Gets a mailbox by its id (admins only)."""
    mailbox = list_mailboxes(user=user).filter(pk=mailbox_id).first()
    if mailbox is None:
        raise NotFound("No such mailbox.")
    return mailbox


def mailbox_for_address(address: str) -> Mailbox | None:
    """The active mailbox receiving ``address`` (plus-addressed variants included).

    Used by the transports (SMTP/LMTP receiver, HTTP endpoints) before any user exists.
    """
    local, _, domain = address.strip().lower().rpartition("@")
    base = f"{local.partition('+')[0]}@{domain}"
    return Mailbox.objects.filter(is_active=True, address__iexact=base).first()


def own_addresses() -> set[str]:
    """All our support addresses, lower-cased."""
    return {address.lower() for address in Mailbox.objects.values_list("address", flat=True)}


def is_own_address(address: str, own: set[str]) -> bool:
    local, _, domain = address.lower().rpartition("@")
    return f"{local.partition('+')[0]}@{domain}" in own


def list_inbound_messages(*, user: Any, status: str | None = None) -> QuerySet[InboundMessage]:
    """The inbound log, newest first, optionally one status (admins only)."""
    policy.require(policy.can_manage_settings(user), "Only admins see the inbound mail log.")
    messages = InboundMessage.objects.select_related("mailbox", "ticket")
    return messages.filter(status=status) if status else messages


def list_quarantined(*, user: Any) -> QuerySet[InboundMessage]:
    """Messages that failed processing, with their error (admins only)."""
    return list_inbound_messages(user=user, status=InboundStatus.QUARANTINED)


def get_inbound_message(*, user: Any, message_id: int) -> InboundMessage:
    message = list_inbound_messages(user=user).filter(pk=message_id).first()
    if message is None:
        raise NotFound("No such message.")
    return message


def raw_bytes(message: InboundMessage) -> bytes:
    """The message exactly as received."""
    with message.raw.open("rb") as handle:
        return bytes(handle.read())


def reply_address_for(*, mailbox: Mailbox, ticket: Ticket) -> str:
    """The Reply-To of outgoing mail on ``ticket``: the mailbox plus a signed ticket token."""
    return reply_address(mailbox.address, ticket.pk)


# --- added for the agent workspace (new functions; see the workspace mail report) ---

RAW_PREVIEW_MAX_BYTES = 64 * 1024


def get_original_message(*, user: Any, message_id: int) -> InboundMessage:
    """A received message whose original staff may read, or NotFound.

    Admins read any (the quarantine among them); other staff only mail that
    became part of a ticket they can see.
    """
    policy.require(policy.is_staff(user), "Only the support team reads original messages.")
    message = (
        InboundMessage.objects.select_related("mailbox", "ticket").filter(pk=message_id).first()
    )
    if message is None:
        raise NotFound("No such message.")
    if policy.can_manage_settings(user):
        return message
    if message.ticket is None or not policy.can_view_ticket(user, message.ticket):
        raise NotFound("No such message.")
    return message


def raw_preview(
    message: InboundMessage, *, max_bytes: int = RAW_PREVIEW_MAX_BYTES
) -> tuple[bytes, bool]:
    """The start of the raw message, and whether there is more (reads no more than that)."""
    with message.raw.open("rb") as handle:
        head = bytes(handle.read(max_bytes + 1))
    return head[:max_bytes], len(head) > max_bytes


def inbound_status_counts(*, user: Any) -> dict[str, int]:
    """Messages per status in the inbound log (admins only)."""
    from django.db.models import Count

    rows = (
        list_inbound_messages(user=user)
        .order_by()
        .values("status")
        .annotate(total=Count("id"))
        .values_list("status", "total")
    )
    return {status: total for status, total in rows}
