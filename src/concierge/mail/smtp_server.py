"""A built-in SMTP / LMTP receiver (aiosmtpd) that a mail server can deliver to.

Postfix, Exim or a provider relays mail for the support domains here
(``transport_maps`` to ``lmtp:inet:host:port`` or ``smtp:``). Each recipient
is checked while the envelope is given (``RCPT TO``): an address that is not
one of our active mailboxes, plus-addressed variants included
(``support+t42-…@acme.test`` reaches ``support@acme.test``), is refused with
``550`` so the sending server bounces it instead of us accepting mail we
would drop. Messages over ``RAW_MESSAGE_MAX_BYTES`` are refused with ``552``
by aiosmtpd while they stream in (the limit is announced in ``EHLO SIZE``).

Accepted mail is stored with ``receive_raw_message`` before we answer 250:
once the sender hears "OK", the message is safe in our storage. A database
or storage failure answers ``451`` (try again later), never a silent loss.
LMTP answers once per recipient, as RFC 2033 requires.

This receiver does not relay and offers no AUTH: run it on loopback or a
private interface behind the MTA that faces the internet.
"""

from __future__ import annotations

import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections

from concierge.core.errors import ConciergeError, LimitExceeded
from concierge.mail.actions import receive_raw_message
from concierge.mail.models import RAW_MESSAGE_MAX_BYTES, InboundSource, Mailbox
from concierge.mail.services import mailbox_for_address

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 100


def _mailbox_id_for(address: str) -> int | None:
    close_old_connections()
    mailbox = mailbox_for_address(address)
    return mailbox.pk if mailbox is not None else None


def deliver(raw: bytes, recipients: list[str]) -> list[str]:
    """Stores ``raw`` once per mailbox among ``recipients``; one SMTP status per recipient.

    A ``Delivered-To`` header per recipient is added on top (as local delivery
    agents do), so a Bcc to a per-ticket reply address still threads.
    """
    close_old_connections()
    by_mailbox: dict[int, list[str]] = {}
    for address in recipients:
        mailbox = mailbox_for_address(address)
        if mailbox is not None:
            by_mailbox.setdefault(mailbox.pk, []).append(address)
    status_of: dict[str, str] = {}
    for mailbox_id, addresses in by_mailbox.items():
        mailbox = Mailbox.objects.get(pk=mailbox_id)
        header = b"".join(
            b"Delivered-To: " + address.encode("ascii", "replace") + b"\r\n"
            for address in addresses
        )
        try:
            message = receive_raw_message(
                mailbox=mailbox, raw=header + raw, source=InboundSource.SMTP
            )
            status = f"250 2.0.0 OK: stored as {message.pk}"
        except LimitExceeded as error:
            status = f"552 5.3.4 {error.message}"
        except ConciergeError as error:
            status = f"554 5.6.0 {error.message}"
        except (DatabaseError, OSError):
            logger.exception("could not store mail for %s", ", ".join(addresses))
            status = "451 4.3.0 Temporary failure storing the message; try again later"
        for address in addresses:
            status_of[address] = status
    return [
        status_of.get(address, f"550 5.1.1 <{address}>: no such mailbox here")
        for address in recipients
    ]


class MailboxHandler:
    """aiosmtpd handler: accepts our mailboxes' addresses and stores what they receive."""

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            mailbox_id = await sync_to_async(_mailbox_id_for)(address)
        except DatabaseError:
            logger.exception("mailbox lookup failed for %s", address)
            return "451 4.3.0 Temporary failure; try again later"
        if mailbox_id is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content: Any = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        statuses = await sync_to_async(deliver)(raw, list(envelope.rcpt_tos))
        if isinstance(server, LMTP):
            # One reply line per accepted recipient, in RCPT order (RFC 2033 §4.2).
            return "\r\n".join(statuses)
        failures = [status for status in statuses if not status.startswith("2")]
        if not failures:
            return statuses[0] if statuses else "250 2.0.0 OK"
        # SMTP has one answer for all recipients: a temporary failure wins, so
        # the sender retries rather than bouncing mail some mailbox did store.
        temporary = [status for status in failures if status.startswith("4")]
        return temporary[0] if temporary else failures[0]


class _LmtpController(Controller):
    def factory(self) -> SMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


def make_controller(
    *, host: str, port: int, lmtp: bool = False, data_size_limit: int = RAW_MESSAGE_MAX_BYTES
) -> Controller:
    """An aiosmtpd controller (its own thread) serving ``MailboxHandler`` on host:port."""
    controller_class = _LmtpController if lmtp else Controller
    return controller_class(
        MailboxHandler(),
        hostname=host,
        port=port,
        data_size_limit=data_size_limit,
        ident="Concierge mail receiver",
        server_hostname="concierge",
        decode_data=False,
    )
