"""The whole loop against real servers: Dovecot delivers by IMAP IDLE, replies leave over SMTP.

A customer's mail is appended to Dovecot; the IDLE watcher imports it into a
ticket; an agent replies; the SMTP sink receives the reply with threading
headers; the customer's answer, shaped like Gmail, Outlook, Apple Mail and
Thunderbird write it, is appended to Dovecot and lands on the same ticket.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from imapclient.imapclient import SEEN

from concierge.mail.imap import ImapWatcher
from concierge.mail.models import (
    AfterImport,
    Direction,
    InboundMessage,
    InboundStatus,
    Mailbox,
    MessageRecord,
    OutboundMessage,
    OutboundStatus,
    SmtpSecurity,
)
from concierge.mail.threading import reply_address
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import Ticket
from tests.factories import make_agent
from tests.mail.messages import email
from tests.mail.real_servers import Dovecot, SmtpSink, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _mailbox(dovecot: Dovecot, smtp_sink: SmtpSink, **changes: object) -> Mailbox:
    fields: dict[str, object] = {
        "name": "Acme support",
        "from_name": "Acme Support",
        "address": "help@acme.test",
        "is_default": True,
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_use_ssl": False,
        "imap_user": dovecot.new_account(),
        "imap_password": "imap-test-password",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_sink.port,
        "smtp_security": SmtpSecurity.NONE,
        "signature": "Acme Support — we answer within a day",
        **changes,
    }
    return Mailbox.objects.create(**fields)


@pytest.fixture
def watching(dovecot: Dovecot, smtp_sink: SmtpSink) -> Iterator[Mailbox]:
    """A mailbox on a fresh Dovecot account, watched with IMAP IDLE in a thread."""
    mailbox = _mailbox(dovecot, smtp_sink)
    stop = threading.Event()
    watcher = ImapWatcher(mailbox, use_idle=True, stop_event=stop)
    thread = threading.Thread(target=watcher.run_forever, daemon=True)
    thread.start()
    yield mailbox
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def _processed(mailbox: Mailbox, message_id: str) -> InboundMessage:
    def find() -> InboundMessage | None:
        return InboundMessage.objects.filter(
            mailbox=mailbox, message_id=message_id, status=InboundStatus.PROCESSED
        ).first()

    return wait_until(find)  # type: ignore[no-any-return]


def _reply_like(client: str, agent_mail: EmailMessage, customer_first_id: str) -> bytes:
    """The customer's answer to our reply, with the headers this client writes."""
    ours = agent_mail["Message-ID"]
    reply_to = agent_mail["Reply-To"]
    subject = agent_mail["Subject"]
    message = EmailMessage(policy=policy.default)
    message["From"] = "Pat Customer <pat@customers.test>"
    message["To"] = reply_to
    message["Date"] = "Tue, 03 Jun 2025 09:00:00 +0000"
    quoted = "\n".join(
        f"> {line}" for line in agent_mail.get_body(("plain",)).get_content().splitlines()
    )  # type: ignore[union-attr]
    if client == "gmail":
        message["Subject"] = subject  # already "Re: ..."; Gmail does not stack prefixes
        message["Message-ID"] = "<CAJ7gmail-reply-1@mail.gmail.com>"
        message["In-Reply-To"] = ours
        message["References"] = f"<{customer_first_id}> {ours}"
        body = (
            "Thanks, that works.\n\n"
            f"On Mon, Jun 2, 2025 at 11:00 AM Acme Support <{reply_to}> wrote:\n{quoted}\n"
        )
    elif client == "outlook":
        # Outlook (Exchange) rewrites In-Reply-To to an id we never sent; References keeps ours.
        message["Subject"] = "RE: " + subject.removeprefix("Re: ")
        message["Message-ID"] = "<DB7PR03MB4972A1@DB7PR03MB4972.eurprd03.prod.outlook.com>"
        message["In-Reply-To"] = "<DB7PR03MB4972B0@DB7PR03MB4972.eurprd03.prod.outlook.com>"
        message["References"] = f"<{customer_first_id}> {ours}"
        message["Thread-Topic"] = subject
        message["Thread-Index"] = "AQHZ1a2b3c4d5e6f7g8h9i0j=="
        body = (
            "It arrived, thank you.\n\n________________________________\n"
            f"From: Acme Support <{reply_to}>\nSent: Monday, June 2, 2025 11:00 AM\n"
            f"To: Pat Customer <pat@customers.test>\nSubject: {subject}\n\n{quoted}\n"
        )
    elif client == "apple":
        message["Subject"] = subject
        message["Message-Id"] = "<5F3C2B1A-APPLE-4E2D@customers.test>"
        message["In-Reply-To"] = ours
        message["References"] = f"<{customer_first_id}> {ours}"
        message["X-Mailer"] = "Apple Mail (2.3774.600.62)"
        body = (
            "Great, thanks!\n\n"
            f"> On 2 Jun 2025, at 11:00, Acme Support <{reply_to}> wrote:\n>\n{quoted}\n"
        )
    else:  # thunderbird
        message["Subject"] = subject
        message["Message-ID"] = "<b1e2c3d4-thunderbird-5678@customers.test>"
        message["In-Reply-To"] = ours
        message["References"] = f"<{customer_first_id}> {ours}"
        message["User-Agent"] = "Mozilla Thunderbird"
        body = (
            "One more question: can I change the address?\n\n"
            f"On 02/06/2025 11:00, Acme Support wrote:\n{quoted}\n"
        )
    message.set_content(body)
    if client == "apple":
        message.add_alternative(f"<div>{body.splitlines()[0]}</div>", subtype="html")
    return message.as_bytes()


@pytest.mark.parametrize("client", ["gmail", "outlook", "apple", "thunderbird"])
def test_mail_through_dovecot_and_agent_reply_thread_into_one_ticket(
    client: str, watching: Mailbox, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    mailbox = watching
    agent = make_agent(email="alan@acme.test", name="Alan Agent", signature="Alan, Acme Support")

    # A customer writes: the IDLE watcher imports it and it becomes a ticket.
    dovecot.append(mailbox.imap_user, email(message_id="<first@customers.test>"))
    first = _processed(mailbox, "first@customers.test")
    ticket = first.ticket
    assert ticket is not None and ticket.subject == "My order has not arrived"
    imap = dovecot.client(mailbox.imap_user)
    imap.select_folder("INBOX")
    flags = wait_until(
        lambda: [f for f in imap.get_flags(imap.search(["ALL"])).values() if SEEN in f]
    )
    assert len(flags) == 1  # flagged seen only after the import was committed
    imap.logout()

    # An agent replies: the sink receives a threaded email.
    entry = ticket_actions.add_entry(actor=agent, ticket=ticket, body="It ships **today**.")
    received = smtp_sink.wait_for(1)
    assert len(received) == 1
    sent = received[0].message
    assert received[0].recipients == ["pat@customers.test"]
    assert received[0].sender == "help@acme.test"
    assert parseaddr(sent["From"]) == ("Acme Support", "help@acme.test")
    assert sent["Subject"] == f"Re: My order has not arrived [#{ticket.pk}]"
    assert sent["In-Reply-To"] == "<first@customers.test>"
    assert sent["References"] == "<first@customers.test>"
    assert sent["Reply-To"] == reply_address("help@acme.test", ticket.pk)
    assert sent["Auto-Submitted"] == "no"
    text = sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "It ships **today**." in text
    assert "Alan, Acme Support" in text and "we answer within a day" in text
    our_id = sent["Message-ID"].strip("<>")
    assert MessageRecord.objects.get(message_id=our_id).direction == Direction.OUTBOUND
    outbound = OutboundMessage.objects.get(entry=entry)
    assert outbound.status == OutboundStatus.SENT
    entry.refresh_from_db()
    assert entry.metadata["delivery"]["status"] == "sent"

    # The customer answers from their mail client: same ticket.
    dovecot.append(mailbox.imap_user, _reply_like(client, sent, "first@customers.test"))
    answer_id = {
        "gmail": "CAJ7gmail-reply-1@mail.gmail.com",
        "outlook": "DB7PR03MB4972A1@DB7PR03MB4972.eurprd03.prod.outlook.com",
        "apple": "5F3C2B1A-APPLE-4E2D@customers.test",
        "thunderbird": "b1e2c3d4-thunderbird-5678@customers.test",
    }[client]
    answer = _processed(mailbox, answer_id)
    assert answer.ticket_id == ticket.pk
    assert Ticket.objects.count() == 1
    last = ticket.entries.order_by("id").last()
    assert last is not None and last.author_customer_id == ticket.requester_id
    assert last.metadata["threaded_by"] == "references"
    assert "Acme Support" not in last.body_source  # the quoted history is separated


def test_reply_with_attachment_and_cc_goes_out_with_both(
    dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    from concierge.tickets.actions import NewAttachment
    from tests.factories import CustomerFactory, TicketFactory

    _mailbox(dovecot, smtp_sink)
    agent = make_agent()
    ticket = TicketFactory(requester=CustomerFactory(email="req@customers.test"))
    ticket.ccs.add(CustomerFactory(email="cc@customers.test"))

    ticket_actions.add_entry(
        actor=agent,
        ticket=ticket,
        body="The invoice is attached.",
        attachments=[NewAttachment("invoice.pdf", b"%PDF-1.4 test", "application/pdf")],
    )

    received = smtp_sink.wait_for(1)[0]
    assert sorted(received.recipients) == ["cc@customers.test", "req@customers.test"]
    message = received.message
    assert message["Cc"] == "cc@customers.test"
    assert message["In-Reply-To"] is None  # a portal ticket: nothing to answer yet
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content()) for a in attachments] == [
        ("invoice.pdf", b"%PDF-1.4 test")
    ]


def test_polling_fallback_imports_without_idle(dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    mailbox = _mailbox(dovecot, smtp_sink, imap_after_import=AfterImport.FLAG_SEEN)
    stop = threading.Event()
    watcher = ImapWatcher(mailbox, use_idle=False, poll_interval=0.2, stop_event=stop)
    thread = threading.Thread(target=watcher.run_forever, daemon=True)
    thread.start()
    try:
        dovecot.append(mailbox.imap_user, email(message_id="<polled@customers.test>"))
        assert _processed(mailbox, "polled@customers.test").ticket is not None
    finally:
        stop.set()
        thread.join(timeout=10)
