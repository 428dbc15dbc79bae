"""Which ticket a message belongs to.

In order of trust:

1. ``In-Reply-To`` / ``References`` naming a Message-ID we received or sent
   (``MessageRecord``). ``References`` matters because Outlook rewrites or
   drops ``In-Reply-To`` while keeping the chain there.
2. A per-ticket reply address, ``support+t<id>-<signature>@domain``: the
   signature is an HMAC of the ticket id under ``SECRET_KEY``, so a token
   cannot be guessed or altered to reach another ticket.
3. The ticket number in the subject (``[#1234]``), but only when the sender
   takes part in that ticket (requester, CC or agent): anyone can type a
   number, so a stranger's "[#1234]" opens a new ticket instead.

The same subject alone never joins tickets: "Invoice" from two customers
are two requests, and newsletters replying "Re: Your order" would otherwise
pile up in one ticket.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

from concierge.accounts.models import STAFF_ROLES, User
from concierge.customers.models import CustomerIdentity, IdentityKind
from concierge.mail.models import Direction, Mailbox, MessageRecord
from concierge.mail.parsing import ParsedMessage
from concierge.tickets.models import Ticket

REPLY_TOKEN_SALT = "concierge.mail.threading.reply-address"  # noqa: S105 - a salt, not a secret
REPLY_TOKEN_SIGNATURE_CHARS = 16  # 64 bits of HMAC-SHA256
REPLY_TOKEN = re.compile(rf"^t(\d{{1,12}})-([0-9a-f]{{{REPLY_TOKEN_SIGNATURE_CHARS}}})$")
SUBJECT_TOKEN = re.compile(r"\[#(\d{1,12})\]")
MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket
    method: str  # "references", "reply_address" or "subject_token"


def _signature(ticket_id: int) -> str:
    digest = salted_hmac(REPLY_TOKEN_SALT, str(ticket_id), algorithm="sha256").hexdigest()
    return digest[:REPLY_TOKEN_SIGNATURE_CHARS]


def reply_token(ticket_id: int) -> str:
    """The signed token naming a ticket in a reply address (lower-case, address-safe)."""
    return f"t{ticket_id}-{_signature(ticket_id)}"


def ticket_id_from_token(token: str) -> int | None:
    """The ticket id of a valid token; None when malformed or forged."""
    match = REPLY_TOKEN.match(token.strip().lower())
    if match is None:
        return None
    ticket_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _signature(ticket_id)):
        return None
    return ticket_id


def reply_address(mailbox_address: str, ticket_id: int) -> str:
    """``support@acme.test`` + ticket 42 -> ``support+t42-<signature>@acme.test``."""
    local, _, domain = mailbox_address.rpartition("@")
    local = local.partition("+")[0]
    return f"{local}+{reply_token(ticket_id)}@{domain}"


def subject_with_token(subject: str, ticket_id: int) -> str:
    """The subject of outgoing mail, carrying ``[#id]`` once."""
    token = f"[#{ticket_id}]"
    return subject if token in subject else f"{subject} {token}".strip()


def _follow_merges(ticket: Ticket) -> Ticket:
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into_id is None:
            break
        ticket = Ticket.objects.get(pk=ticket.merged_into_id)
    return ticket


def _by_references(parsed: ParsedMessage, mailbox: Mailbox) -> Ticket | None:
    # In-Reply-To first, then References from the newest (last) to the oldest.
    candidates: list[str] = []
    for message_id in [*parsed.in_reply_to, *reversed(parsed.references)]:
        if message_id and message_id not in candidates and message_id != parsed.message_id:
            candidates.append(message_id)
    if not candidates:
        return None
    records = list(
        MessageRecord.objects.filter(message_id__in=candidates[:100]).select_related("ticket")
    )
    if not records:
        return None

    def rank(record: MessageRecord) -> tuple[int, int]:
        same_mailbox = 0 if record.mailbox_id == mailbox.pk else 1
        return candidates.index(record.message_id), same_mailbox

    return min(records, key=rank).ticket


def _by_reply_address(parsed: ParsedMessage) -> Ticket | None:
    for address in [*(a.address for a in parsed.recipients), *parsed.delivered_to]:
        local = address.rpartition("@")[0]
        if "+" not in local:
            continue
        ticket_id = ticket_id_from_token(local.partition("+")[2])
        if ticket_id is not None and (ticket := Ticket.objects.filter(pk=ticket_id).first()):
            return ticket
    return None


def is_participant(ticket: Ticket, email: str) -> bool:
    """The requester, a CC, or an agent of the desk."""
    email = email.strip().lower()
    if not email:
        return False
    if User.objects.filter(email__iexact=email, role__in=STAFF_ROLES, is_active=True).exists():
        return True
    customer_ids = set(
        CustomerIdentity.objects.filter(kind=IdentityKind.EMAIL, value=email).values_list(
            "customer_id", flat=True
        )
    )
    if not customer_ids:
        return False
    if ticket.requester_id in customer_ids:
        return True
    return ticket.ccs.filter(pk__in=customer_ids).exists()


def _by_subject_token(parsed: ParsedMessage) -> Ticket | None:
    for match in SUBJECT_TOKEN.finditer(parsed.subject):
        ticket = Ticket.objects.filter(pk=int(match.group(1))).first()
        if ticket is not None and is_participant(ticket, parsed.from_address):
            return ticket
    return None


def find_ticket(*, parsed: ParsedMessage, mailbox: Mailbox) -> ThreadMatch | None:
    """The ticket this message continues, and how we know; None for a new request."""
    for method, finder in (
        ("references", lambda: _by_references(parsed, mailbox)),
        ("reply_address", lambda: _by_reply_address(parsed)),
        ("subject_token", lambda: _by_subject_token(parsed)),
    ):
        ticket = finder()
        if ticket is not None:
            return ThreadMatch(ticket=_follow_merges(ticket), method=method)
    return None


def same_message_elsewhere(parsed: ParsedMessage, mailbox: Mailbox) -> MessageRecord | None:
    """The record of this very message received through another of our mailboxes (To + Cc)."""
    if not parsed.message_id:
        return None
    return (
        MessageRecord.objects.filter(message_id=parsed.message_id, direction=Direction.INBOUND)
        .exclude(mailbox=mailbox)
        .select_related("ticket")
        .first()
    )
