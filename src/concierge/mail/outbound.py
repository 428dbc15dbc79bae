"""Mail we send: which mailbox speaks for a ticket, the headers that make replies thread, templates.

A reply leaves with:

* ``Message-ID`` of our own, recorded as a ``MessageRecord`` before it is
  sent, so the customer's answer (In-Reply-To / References) finds the ticket;
* ``In-Reply-To`` the customer's latest message on the ticket and
  ``References`` the ticket's chain (first message kept, then the newest),
  so Gmail, Outlook, Apple Mail and Thunderbird file it in the conversation;
* the subject token ``[#1234]`` and ``Reply-To`` the signed per-ticket
  address, two fallbacks for clients that drop the references;
* ``Auto-Submitted: no`` for a person's reply, ``auto-replied`` for an
  acknowledgement (RFC 3834), so other systems never answer the latter.

Templates are plain text with ``{placeholders}``. They are filled by
replacing the known names only — never ``str.format``, whose attribute
lookups (``{ticket.__class__}``) would let a template read internals.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formataddr, make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from concierge.core.sanitize import plain_text
from concierge.mail.models import (
    Direction,
    Mailbox,
    MessageRecord,
    OutboundKind,
    OutboundMessage,
    SmtpSecurity,
)
from concierge.mail.services import is_own_address, own_addresses, reply_address_for
from concierge.mail.threading import subject_with_token
from concierge.tickets.models import Entry, Ticket

SMTP_TIMEOUT_SECONDS = 20
MAX_REFERENCES = 20
PLACEHOLDERS = {
    "customer_name": "the requester's name",
    "ticket_id": "the ticket number",
    "subject": "the ticket's subject",
    "mailbox_name": "the mailbox's From name",
    "ticket_url": "the ticket in the agent workspace",
    "portal_url": "the request in the customer portal",
    "agent_name": "the agent notified or assigned",
    "author_name": "who wrote the message",
    "message": "the message's text",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_ANY_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|réf|ref)\s*:", re.IGNORECASE)


# --- templates ----------------------------------------------------------------------


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Fills the known ``{placeholders}``; anything else stays as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(replace, template)


def unknown_placeholders(template: str) -> list[str]:
    """Placeholders a template uses that we do not fill (for validation)."""
    names = _ANY_PLACEHOLDER.findall(template)
    return sorted({name for name in names if name not in PLACEHOLDERS})


def ticket_values(ticket: Ticket, mailbox: Mailbox, **extra: Any) -> dict[str, Any]:
    return {
        "customer_name": ticket.requester.name,
        "ticket_id": ticket.pk,
        "subject": ticket.subject,
        "mailbox_name": mailbox.from_name or mailbox.name,
        "ticket_url": f"{settings.SITE_URL}/tickets/{ticket.pk}/",
        "portal_url": f"{settings.SITE_URL}/portal/requests/{ticket.pk}/",
        **extra,
    }


# --- which mailbox --------------------------------------------------------------------


def default_mailbox() -> Mailbox | None:
    """The active mailbox marked default (the oldest one when several are)."""
    return Mailbox.objects.filter(is_active=True, is_default=True).order_by("id").first()


def mailbox_for_ticket(ticket: Ticket) -> Mailbox | None:
    """The mailbox the ticket's first mail came to, else the default mailbox; None: no mail."""
    first = (
        MessageRecord.objects.filter(
            ticket=ticket, direction=Direction.INBOUND, mailbox__is_active=True
        )
        .select_related("mailbox")
        .order_by("created_at", "id")
        .first()
    )
    return first.mailbox if first is not None else default_mailbox()


def from_header(mailbox: Mailbox) -> str:
    return formataddr((mailbox.from_name or mailbox.name, mailbox.address))


# --- composing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """Everything an ``OutboundMessage`` row stores about one message."""

    to: list[str]
    cc: list[str]
    subject: str
    body_text: str
    body_html: str
    in_reply_to: str
    references: str
    reply_to: str
    from_header: str
    message_id: str
    auto_submitted: str


def new_message_id(mailbox: Mailbox, ticket: Ticket) -> str:
    """A fresh Message-ID in the mailbox's domain, without angle brackets."""
    domain = mailbox.address.rpartition("@")[2] or "concierge.invalid"
    return make_msgid(idstring=f"t{ticket.pk}", domain=domain).strip("<>")


def thread_headers(ticket: Ticket) -> tuple[str, str]:
    """(In-Reply-To, References) for a new message on ``ticket``, brackets included.

    In-Reply-To names the customer's latest message (our own latest when the
    customer never wrote by mail); References keeps the first message of the
    chain and the newest ones, the way RFC 5322 suggests trimming long chains.
    """
    records = list(
        MessageRecord.objects.filter(ticket=ticket)
        .order_by("created_at", "id")
        .values_list("message_id", "direction")
    )
    if not records:
        return "", ""
    inbound = [message_id for message_id, direction in records if direction == Direction.INBOUND]
    in_reply_to = inbound[-1] if inbound else records[-1][0]
    chain = [message_id for message_id, _ in records]
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return f"<{in_reply_to}>", " ".join(f"<{message_id}>" for message_id in chain)


def reply_subject(ticket: Ticket) -> str:
    subject = subject_with_token(ticket.subject, ticket.pk)
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def customer_recipients(ticket: Ticket) -> tuple[list[str], list[str]]:
    """(To, Cc): the requester, then the ticket's CCs; never one of our own addresses."""
    own = own_addresses()
    to = [
        email
        for email in [ticket.requester.primary_email]
        if email and not is_own_address(email, own)
    ]
    cc: list[str] = []
    for customer in ticket.ccs.all():
        email = customer.primary_email
        if email and email not in to and email not in cc and not is_own_address(email, own):
            cc.append(email)
    return to, cc


def _signature_block(*signatures: str) -> str:
    parts = [signature.strip() for signature in signatures if signature and signature.strip()]
    return "\n\n".join(parts)


def _html_paragraphs(text: str) -> str:
    return "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
        for block in text.split("\n\n")
        if block.strip()
    )


def compose_reply(*, entry: Entry, mailbox: Mailbox) -> Composed | None:
    """The email of an agent's public reply; None when the ticket has no one to mail."""
    ticket = entry.ticket
    to, cc = customer_recipients(ticket)
    if not to and not cc:
        return None
    agent_signature = entry.author_user.signature if entry.author_user else ""
    signature = _signature_block(agent_signature, mailbox.signature)
    text = entry.body_source.strip()
    body_html = entry.body_html
    if signature:
        text += "\n\n-- \n" + signature
        body_html += f'<div class="signature">{_html_paragraphs(signature)}</div>'
    in_reply_to, references = thread_headers(ticket)
    return Composed(
        to=to,
        cc=cc,
        subject=reply_subject(ticket),
        body_text=text + "\n",
        body_html=f"<!DOCTYPE html><html><body>{body_html}</body></html>",
        in_reply_to=in_reply_to,
        references=references,
        reply_to=reply_address_for(mailbox=mailbox, ticket=ticket),
        from_header=from_header(mailbox),
        message_id=new_message_id(mailbox, ticket),
        auto_submitted="no",
    )


def compose_acknowledgement(*, entry: Entry, mailbox: Mailbox) -> Composed | None:
    """The automatic "we received your request" answer to the mail that opened a ticket."""
    ticket = entry.ticket
    address = (entry.metadata.get("email") or {}).get("from") or ticket.requester.primary_email
    if not address:
        return None
    values = ticket_values(ticket, mailbox)
    subject = " ".join(render_template(mailbox.acknowledgement_subject, values).split())
    text = render_template(mailbox.acknowledgement_template, values).strip()
    if mailbox.signature.strip():
        text += "\n\n-- \n" + mailbox.signature.strip()
    in_reply_to, references = thread_headers(ticket)
    return Composed(
        to=[address],
        cc=[],
        subject=subject_with_token(subject or ticket.subject, ticket.pk),
        body_text=text + "\n",
        body_html="",
        in_reply_to=in_reply_to,
        references=references,
        reply_to=reply_address_for(mailbox=mailbox, ticket=ticket),
        from_header=from_header(mailbox),
        message_id=new_message_id(mailbox, ticket),
        auto_submitted="auto-replied",
    )


# --- sending ----------------------------------------------------------------------------


def build_email(message: OutboundMessage) -> EmailMultiAlternatives:
    """The Django email of a queued message, attachments read from its entry."""
    headers = {
        "Message-ID": f"<{message.message_id}>",
        "Auto-Submitted": message.auto_submitted,
        "X-Concierge-Ticket": str(message.ticket_id),
    }
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
    if message.references:
        headers["References"] = message.references
    if message.kind == OutboundKind.ACKNOWLEDGEMENT:
        # Exchange / Outlook: do not answer this with out-of-office replies.
        headers["X-Auto-Response-Suppress"] = "All"
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=message.from_header,
        to=list(message.to),
        cc=list(message.cc),
        reply_to=[message.reply_to] if message.reply_to else None,
        headers=headers,
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    if message.entry_id is not None and message.kind == OutboundKind.REPLY:
        for attachment in message.entry.attachments.order_by("id"):  # type: ignore[union-attr]
            with attachment.file.open("rb") as handle:
                email.attach(attachment.filename, handle.read(), attachment.content_type or None)
    return email


def smtp_connection(mailbox: Mailbox) -> BaseEmailBackend:
    """The mailbox's own SMTP server when configured, else the site's email backend."""
    if not mailbox.smtp_host:
        return get_connection(fail_silently=False)
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        fail_silently=False,
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        username=mailbox.smtp_user or None,
        password=mailbox.smtp_password or None,
        use_tls=mailbox.smtp_security == SmtpSecurity.STARTTLS,
        use_ssl=mailbox.smtp_security == SmtpSecurity.TLS,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


# --- agent notifications (used by concierge.tickets.tasks) -------------------------------


def agent_notification(
    *, kind: str, ticket: Ticket, agent_name: str, entry: Entry | None = None
) -> tuple[str, str, str] | None:
    """(From, subject, body) of an agent notification from the ticket's mailbox; None: no mailbox.

    ``kind`` is "assignment" or "customer_reply".
    """
    mailbox = mailbox_for_ticket(ticket)
    if mailbox is None:
        return None
    extra: dict[str, Any] = {"agent_name": agent_name}
    if entry is not None:
        extra["author_name"] = entry.author_name
        extra["message"] = plain_text(entry.body_html, limit=4000)
    values = ticket_values(ticket, mailbox, **extra)
    if kind == "assignment":
        subject = f"[#{ticket.pk}] Assigned to you: {ticket.subject}"
        template = mailbox.assignment_notification_template
    else:
        subject = f"[#{ticket.pk}] New reply from {extra.get('author_name', '')}: {ticket.subject}"
        template = mailbox.customer_reply_notification_template
    return from_header(mailbox), subject, render_template(template, values).strip() + "\n"
