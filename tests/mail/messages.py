"""Builders of raw test messages shaped like what real mail clients send."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

from concierge.mail.actions import process_inbound_message, receive_raw_message
from concierge.mail.models import InboundMessage, Mailbox


def email(
    *,
    sender: str = "Pat Customer <pat@customers.test>",
    to: str = "Support <help@acme.test>",
    subject: str = "My order has not arrived",
    body: str = "Hello, where is my order?",
    message_id: str = "<first@customers.test>",
    in_reply_to: str | None = None,
    references: str | None = None,
    cc: str | None = None,
    headers: dict[str, str] | None = None,
    html: str | None = None,
) -> bytes:
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = "Mon, 02 Jun 2025 10:00:00 +0000"
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def deliver(mailbox: Mailbox, raw: bytes, source: str = "smtp") -> InboundMessage:
    """Receives and processes a message the way the worker does, and returns its row."""
    message = receive_raw_message(mailbox=mailbox, raw=raw, source=source)
    process_inbound_message(message_id=message.pk)
    message.refresh_from_db()
    return message
