"""Auto-replies, lists, bounces, spam and mail loops."""

from __future__ import annotations

import pytest

from concierge.mail.actions import record_outgoing_message
from concierge.mail.loops import may_auto_reply
from concierge.mail.models import InboundStatus, Mailbox
from concierge.mail.parsing import parse_message
from concierge.tickets.models import Entry, Ticket
from tests.factories import TicketFactory
from tests.mail.messages import deliver, email

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto-Submitted": "auto-replied"}, "pat@customers.test"),
        ({"Precedence": "bulk"}, "pat@customers.test"),
        ({"X-Autoreply": "yes"}, "pat@customers.test"),
        ({"List-Id": "<news.customers.test>"}, "pat@customers.test"),
        ({}, "no-reply@customers.test"),
        ({}, "MAILER-DAEMON@customers.test"),
    ],
)
def test_automated_messages_are_recorded_but_flagged(
    mailbox: Mailbox, headers: dict[str, str], sender: str
) -> None:
    message = deliver(mailbox, email(sender=sender, headers=headers))

    assert message.status == InboundStatus.PROCESSED
    assert message.entry is not None
    assert message.entry.metadata["is_automated"] is True
    assert message.entry.metadata["automation_reasons"]
    assert may_auto_reply(message.entry) is False
    assert may_auto_reply(message) is False


def test_auto_submitted_no_is_a_person(mailbox: Mailbox) -> None:
    message = deliver(mailbox, email(headers={"Auto-Submitted": "no"}))
    assert message.entry is not None and message.entry.metadata["is_automated"] is False
    assert may_auto_reply(message.entry) is True
    assert may_auto_reply(parse_message(email())) is True


def test_sender_over_the_hourly_limit_is_ignored_with_a_reason(mailbox: Mailbox) -> None:
    mailbox.max_messages_per_sender_per_hour = 3
    mailbox.save()
    results = [
        deliver(mailbox, email(message_id=f"<loop-{n}@customers.test>", subject=f"Auto {n}"))
        for n in range(5)
    ]
    assert [r.status for r in results] == ["processed"] * 3 + ["ignored"] * 2
    assert "Rate limit: 3 messages from pat@customers.test" in results[3].error
    assert Ticket.objects.count() == 3


def test_mail_from_our_own_address_is_ignored(mailbox: Mailbox) -> None:
    message = deliver(mailbox, email(sender="Support <help@acme.test>"))
    assert message.status == InboundStatus.IGNORED
    assert Ticket.objects.count() == 0


BOUNCE = b"""From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>
To: help@acme.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.acme.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.test
Arrival-Date: Mon, 2 Jun 2025 10:00:00 +0000

Final-Recipient: rfc822; gone@customers.test
Original-Recipient: rfc822;gone@customers.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@customers.test>: Recipient address rejected

--BOUNDARY
Content-Type: text/rfc822-headers

From: Acme Support <help@acme.test>
To: gone@customers.test
Subject: [#1] Your order
Message-ID: <reply-42@acme.test>

--BOUNDARY--
"""


def test_bounce_marks_the_outgoing_entry_and_opens_no_ticket(mailbox: Mailbox) -> None:
    ticket = TicketFactory()
    entry = Entry.objects.get(ticket=ticket)
    record_outgoing_message(
        mailbox=mailbox, message_id="<reply-42@acme.test>", ticket=ticket, entry=entry
    )

    message = deliver(mailbox, BOUNCE)

    assert message.status == InboundStatus.BOUNCE
    assert Ticket.objects.count() == 1
    entry.refresh_from_db()
    failure = entry.metadata["delivery_failed"]
    assert failure["status"] == "5.1.1"
    assert failure["recipient"] == "gone@customers.test"
    assert "Recipient address rejected" in failure["diagnostic"]
    assert message.entry == entry
    assert "5.1.1 gone@customers.test" in message.error


def test_bounce_for_an_unknown_message_is_recorded_without_a_ticket(mailbox: Mailbox) -> None:
    message = deliver(mailbox, BOUNCE)
    assert message.status == InboundStatus.BOUNCE
    assert "reply-42@acme.test" in message.error
    assert Ticket.objects.count() == 0


def test_bounce_with_the_original_message_attached_is_understood(mailbox: Mailbox) -> None:
    ticket = TicketFactory()
    entry = Entry.objects.get(ticket=ticket)
    record_outgoing_message(
        mailbox=mailbox, message_id="reply-42@acme.test", ticket=ticket, entry=entry
    )
    raw = BOUNCE.replace(b"text/rfc822-headers", b"message/rfc822").replace(
        b"Message-ID: <reply-42@acme.test>\n", b"Message-ID: <reply-42@acme.test>\n\nBody\n"
    )
    deliver(mailbox, raw)
    entry.refresh_from_db()
    assert entry.metadata["delivery_failed"]["status"] == "5.1.1"


@pytest.mark.parametrize(
    ("headers", "is_spam"),
    [
        ({"X-Spam-Flag": "YES"}, True),
        ({"X-Spam-Score": "7.3"}, True),
        ({"X-Spam-Status": "No, score=6.1 required=5.0"}, True),
        ({"X-Spam-Score": "2.0"}, False),
        ({"X-Spam-Status": "No, score=-0.1 required=5.0"}, False),
    ],
)
def test_spam_verdicts_tag_the_ticket(
    mailbox: Mailbox, headers: dict[str, str], is_spam: bool
) -> None:
    message = deliver(mailbox, email(headers=headers))
    assert message.ticket is not None
    tags = list(message.ticket.tags.values_list("name", flat=True))
    assert tags == (["spam"] if is_spam else [])
    assert message.entry is not None and message.entry.metadata["is_spam"] is is_spam
