"""Inbound mail becomes tickets and entries, threaded into the right ticket."""

from __future__ import annotations

import pytest

from concierge.customers.models import CustomerIdentity
from concierge.mail.actions import (
    process_inbound_message,
    receive_raw_message,
    record_outgoing_message,
)
from concierge.mail.models import Direction, InboundMessage, InboundStatus, Mailbox, MessageRecord
from concierge.mail.threading import reply_address, reply_token, ticket_id_from_token
from concierge.tickets.models import Channel, Entry, EntryKind, Status, Ticket
from tests.factories import CustomerFactory, TicketFactory, make_agent
from tests.mail.messages import deliver, email

pytestmark = pytest.mark.django_db


def _first(mailbox: Mailbox, **kwargs: object) -> Ticket:
    message = deliver(mailbox, email(**kwargs))  # type: ignore[arg-type]
    assert message.status == InboundStatus.PROCESSED, message.error
    assert message.ticket is not None
    return message.ticket


def test_new_message_opens_an_email_ticket_for_the_sender(mailbox: Mailbox) -> None:
    message = deliver(mailbox, email(body="Hello *there*, order #12 is late."))

    ticket = message.ticket
    assert message.status == InboundStatus.PROCESSED
    assert ticket is not None and ticket.channel == Channel.EMAIL
    assert ticket.subject == "My order has not arrived"
    assert ticket.requester.primary_email == "pat@customers.test"
    assert ticket.requester.name == "Pat Customer"
    entry = ticket.entries.get()
    assert entry.author_customer_id == ticket.requester_id
    assert entry.body_html == "<p>Hello *there*, order #12 is late.</p>\n"
    assert entry.metadata["email"]["message_id"] == "first@customers.test"
    assert entry.metadata["is_automated"] is False
    assert MessageRecord.objects.get(message_id="first@customers.test").entry == entry


def test_receiving_enqueues_processing_after_commit(
    mailbox: Mailbox, django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        message = receive_raw_message(mailbox=mailbox, raw=email(), source="imap")
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED
    assert message.raw.read() == email()


def test_same_message_id_twice_makes_one_entry(mailbox: Mailbox) -> None:
    first = deliver(mailbox, email())
    again = deliver(mailbox, email(body="a retried delivery"))

    assert again.pk == first.pk
    assert InboundMessage.objects.count() == 1
    assert Entry.objects.count() == 1


def test_processing_twice_does_nothing_the_second_time(mailbox: Mailbox) -> None:
    message = deliver(mailbox, email())
    process_inbound_message(message_id=message.pk)
    assert Ticket.objects.count() == 1 and Entry.objects.count() == 1


def test_message_without_message_id_is_deduplicated_by_content(mailbox: Mailbox) -> None:
    deliver(mailbox, email(message_id=""))
    deliver(mailbox, email(message_id=""))
    deliver(mailbox, email(message_id="", body="different"))
    assert Ticket.objects.count() == 2


def test_oversized_message_is_refused(mailbox: Mailbox) -> None:
    from concierge.core.errors import LimitExceeded

    with pytest.raises(LimitExceeded, match="25 MB"):
        receive_raw_message(mailbox=mailbox, raw=b"x" * (25 * 1024 * 1024 + 1), source="smtp")
    assert InboundMessage.objects.count() == 0


# --- threading --------------------------------------------------------------------


def test_gmail_reply_threads_by_in_reply_to(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    reply = deliver(
        mailbox,
        email(
            subject="Re: My order has not arrived",
            message_id="<CAgmail-2@mail.gmail.com>",
            in_reply_to="<first@customers.test>",
            references="<first@customers.test>",
            body="Any news?\n\nOn Mon, Jun 2, 2025 at 10:00 AM Pat <pat@customers.test> wrote:\n"
            "> Hello, where is my order?\n",
        ),
    )
    assert reply.ticket == ticket
    entry = ticket.entries.order_by("id").last()
    assert entry is not None and entry.body_source == "Any news?"
    assert entry.metadata["threaded_by"] == "references"
    assert entry.metadata["quoted_text"].startswith("On Mon, Jun 2, 2025")


def test_outlook_reply_with_rewritten_in_reply_to_threads_by_references(
    mailbox: Mailbox, agent_user: object
) -> None:
    ticket = _first(mailbox)
    record_outgoing_message(
        mailbox=mailbox, message_id="<agent-reply-1@acme.test>", ticket=ticket, entry=None
    )
    reply = deliver(
        mailbox,
        email(
            subject="RE: My order has not arrived",
            message_id="<DB7PR01MB@eurprd01.prod.outlook.com>",
            in_reply_to="<DB7PR01MB-unknown@eurprd01.prod.outlook.com>",
            references="<first@customers.test> <agent-reply-1@acme.test>",
            body="Thanks\n\n________________________________\nFrom: Acme <help@acme.test>\n"
            "Sent: Monday, June 2, 2025 11:00\nTo: Pat\nSubject: Your order\n\nIt shipped.",
        ),
    )
    assert reply.ticket == ticket
    assert ticket.entries.order_by("id").last().body_source == "Thanks"  # type: ignore[union-attr]


def test_apple_mail_and_thunderbird_replies_to_our_sent_message_thread(
    mailbox: Mailbox,
) -> None:
    ticket = _first(mailbox)
    record_outgoing_message(
        mailbox=mailbox, message_id="out-1@acme.test", ticket=ticket, entry=None
    )
    apple = deliver(
        mailbox,
        email(
            message_id="<6A1B-APPLE@customers.test>",
            in_reply_to="<out-1@acme.test>",
            references="<first@customers.test> <out-1@acme.test>",
            body="Great\n\n> On 2 Jun 2025, at 11:00, Acme <help@acme.test> wrote:\n>\n> Shipped",
        ),
    )
    thunderbird = deliver(
        mailbox,
        email(
            message_id="<tb-1@customers.test>",
            in_reply_to="<out-1@acme.test>",
            body="Received it.\n\nOn 02/06/2025 11:00, Acme wrote:\n> Shipped",
        ),
    )
    assert apple.ticket == ticket and thunderbird.ticket == ticket
    bodies = list(ticket.entries.order_by("id").values_list("body_source", flat=True))
    assert bodies[-2:] == ["Great", "Received it."]


def test_reply_to_signed_plus_address_threads(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    reply = deliver(
        mailbox,
        email(
            to=reply_address(mailbox.address, ticket.pk),
            subject="no token, no references",
            message_id="<plus@customers.test>",
        ),
    )
    assert reply.ticket == ticket


def test_forged_plus_token_is_rejected_and_opens_a_new_ticket(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    forged = f"help+t{ticket.pk}-0000000000000000@acme.test"
    other_ticket_token = reply_token(ticket.pk + 1).replace(f"t{ticket.pk + 1}", f"t{ticket.pk}")
    reply = deliver(mailbox, email(to=forged, message_id="<forged@customers.test>"))
    assert ticket_id_from_token(other_ticket_token) is None
    assert reply.ticket != ticket
    assert Ticket.objects.count() == 2


def test_subject_token_threads_for_a_participant(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    reply = deliver(
        mailbox,
        email(subject=f"Re: something [#{ticket.pk}]", message_id="<subj@customers.test>"),
    )
    assert reply.ticket == ticket


def test_subject_token_from_a_non_participant_opens_a_new_ticket(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    stranger = deliver(
        mailbox,
        email(
            sender="Eve <eve@elsewhere.test>",
            subject=f"Re: [#{ticket.pk}] give me the data",
            message_id="<eve@elsewhere.test>",
        ),
    )
    assert stranger.ticket != ticket
    assert ticket.entries.count() == 1


def test_same_subject_alone_never_joins(mailbox: Mailbox) -> None:
    first = _first(mailbox, subject="Invoice")
    second = _first(mailbox, subject="Invoice", message_id="<second@customers.test>")
    assert first != second


# --- participants -------------------------------------------------------------------


def test_cc_addresses_become_ticket_ccs(mailbox: Mailbox) -> None:
    ticket = _first(
        mailbox, cc="Sam <sam@customers.test>, help@acme.test, Other Desk <help+x@acme.test>"
    )
    assert list(ticket.ccs.values_list("identities__value", flat=True)) == ["sam@customers.test"]


def test_reply_from_a_cc_is_a_customer_reply_by_that_person(mailbox: Mailbox) -> None:
    ticket = _first(mailbox, cc="Sam <sam@customers.test>")
    sam = ticket.ccs.get()
    deliver(
        mailbox,
        email(
            sender="Sam <sam@customers.test>",
            message_id="<sam-1@customers.test>",
            in_reply_to="<first@customers.test>",
            cc="New Person <new@customers.test>",
            body="I can confirm.",
        ),
    )
    entry = ticket.entries.order_by("id").last()
    assert (
        entry is not None and entry.author_customer == sam and entry.kind == EntryKind.PUBLIC_REPLY
    )
    emails = set(ticket.ccs.values_list("identities__value", flat=True))
    assert emails == {"sam@customers.test", "new@customers.test"}


def test_mail_from_an_agent_on_a_ticket_is_an_internal_note(mailbox: Mailbox) -> None:
    agent = make_agent(email="alan@acme.test")
    ticket = _first(mailbox)
    deliver(
        mailbox,
        email(
            sender="Alan <alan@acme.test>",
            message_id="<alan@acme.test>",
            in_reply_to="<first@customers.test>",
            body="Checking with the warehouse.",
        ),
    )
    entry = ticket.entries.order_by("id").last()
    assert entry is not None and entry.kind == EntryKind.INTERNAL_NOTE
    assert entry.author_user == agent
    assert not CustomerIdentity.objects.filter(value="alan@acme.test").exists()


# --- status ---------------------------------------------------------------------------


def test_reply_to_a_closed_ticket_opens_a_linked_follow_up(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)
    reply = deliver(
        mailbox,
        email(message_id="<late@customers.test>", in_reply_to="<first@customers.test>"),
    )
    assert reply.ticket is not None and reply.ticket != ticket
    assert reply.ticket.follow_up_of == ticket
    assert reply.entry is not None and reply.entry.metadata["follow_up_of"] == ticket.pk
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED


def test_reply_to_a_solved_ticket_reopens_it(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.SOLVED)
    reply = deliver(
        mailbox, email(message_id="<again@customers.test>", in_reply_to="<first@customers.test>")
    )
    ticket.refresh_from_db()
    assert reply.ticket == ticket and ticket.status == Status.OPEN


def test_reply_to_a_solved_ticket_opens_a_follow_up_when_reopening_is_off(
    mailbox: Mailbox,
) -> None:
    mailbox.reopen_solved_on_reply = False
    mailbox.save()
    ticket = _first(mailbox)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.SOLVED)
    reply = deliver(
        mailbox, email(message_id="<again@customers.test>", in_reply_to="<first@customers.test>")
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert reply.ticket is not None and reply.ticket.follow_up_of == ticket


def test_reply_to_a_merged_ticket_lands_on_the_surviving_ticket(mailbox: Mailbox) -> None:
    ticket = _first(mailbox)
    target = TicketFactory(requester=ticket.requester)
    Ticket.objects.filter(pk=ticket.pk).update(merged_into=target, status=Status.CLOSED)
    reply = deliver(
        mailbox, email(message_id="<m@customers.test>", in_reply_to="<first@customers.test>")
    )
    assert reply.ticket == target


# --- attachments ------------------------------------------------------------------------


def test_attachments_over_the_mailbox_limit_become_a_note(mailbox: Mailbox) -> None:
    from email import policy
    from email.message import EmailMessage

    mailbox.max_attachment_bytes = 1000
    mailbox.save()
    message = EmailMessage(policy=policy.default)
    message["From"] = "pat@customers.test"
    message["Subject"] = "Files"
    message["Message-ID"] = "<files@customers.test>"
    message.set_content("See attached.")
    message.add_attachment(b"small", maintype="text", subtype="csv", filename="small.csv")
    message.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="big.png")
    message.add_attachment(b"MZ", maintype="application", subtype="octet-stream", filename="a.exe")
    result = deliver(mailbox, message.as_bytes())

    entry = result.entry
    assert entry is not None
    assert [a.filename for a in entry.attachments.all()] == ["small.csv"]
    assert entry.metadata["skipped_attachments"] == [
        "big.png (4 KB): over the 1 KB attachment limit",
        "a.exe (1 KB): files of type .exe are not accepted",
    ]
    assert "Attachments not stored" in entry.body_html
    assert "big.png" in entry.body_html


def test_inline_image_is_stored_and_html_points_to_its_download(mailbox: Mailbox) -> None:
    from email import policy
    from email.message import EmailMessage

    message = EmailMessage(policy=policy.default)
    message["From"] = "pat@customers.test"
    message["Subject"] = "Screenshot"
    message["Message-ID"] = "<shot@customers.test>"
    message.set_content("See screenshot")
    message.add_alternative(
        '<p>See <img src="cid:img1@x" alt="screenshot"> <img src="https://t.test/p.gif"></p>',
        subtype="html",
    )
    message.get_payload()[1].add_related(  # type: ignore[index,union-attr]
        b"\x89PNG\r\n", maintype="image", subtype="png", cid="<img1@x>", filename="shot.png"
    )
    result = deliver(mailbox, message.as_bytes())
    entry = result.entry
    assert entry is not None
    attachment = entry.attachments.get()
    assert entry.metadata["html"] == (
        f'<p>See <img src="/attachments/{attachment.pk}/" alt="screenshot"> </p>\n'
    )


def test_customer_record_is_reused_by_address(mailbox: Mailbox) -> None:
    customer = CustomerFactory(email="pat@customers.test")
    ticket = _first(mailbox)
    assert ticket.requester == customer


def test_direction_of_received_records_is_inbound(mailbox: Mailbox) -> None:
    _first(mailbox)
    assert MessageRecord.objects.get().direction == Direction.INBOUND


def test_same_mail_to_two_of_our_addresses_makes_one_entry(mailbox: Mailbox) -> None:
    sales = Mailbox.objects.create(name="Sales", address="sales@acme.test")
    raw = email(to="help@acme.test", cc="sales@acme.test")
    first = deliver(mailbox, raw)
    second = deliver(sales, raw)
    assert second.ticket == first.ticket
    assert Entry.objects.count() == 1
