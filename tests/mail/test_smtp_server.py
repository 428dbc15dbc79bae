"""The built-in SMTP / LMTP receiver (aiosmtpd) on loopback, spoken to with smtplib."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
from concierge.mail.smtp_server import make_controller
from concierge.mail.threading import reply_address
from tests.mail.messages import email
from tests.mail.real_servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    port = free_port()
    controller = make_controller(host="127.0.0.1", port=port, data_size_limit=200_000)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def lmtp_port(mailbox: Mailbox) -> Iterator[int]:
    port = free_port()
    controller = make_controller(host="127.0.0.1", port=port, lmtp=True)
    controller.start()
    yield port
    controller.stop()


def test_mail_to_a_mailbox_is_stored_and_becomes_a_ticket(mailbox: Mailbox, smtp_port: int) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        refused = client.sendmail("pat@customers.test", ["HELP@acme.test"], email())
    assert refused == {}
    message = InboundMessage.objects.get()
    assert message.source == "smtp" and message.status == InboundStatus.PROCESSED
    assert message.ticket is not None


def test_unknown_recipient_is_refused_with_550(mailbox: Mailbox, smtp_port: int) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as error:
            client.sendmail("pat@customers.test", ["nobody@acme.test"], email())
    assert error.value.recipients["nobody@acme.test"][0] == 550
    assert InboundMessage.objects.count() == 0


def test_plus_address_reaches_the_base_mailbox_and_threads(
    mailbox: Mailbox, smtp_port: int
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.sendmail("pat@customers.test", ["help@acme.test"], email())
    ticket = InboundMessage.objects.get().ticket
    assert ticket is not None
    # A Bcc-like delivery to the per-ticket address: only the envelope names it.
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.sendmail(
            "pat@customers.test",
            [reply_address(mailbox.address, ticket.pk)],
            email(message_id="<second@customers.test>", subject="another subject"),
        )
    second = InboundMessage.objects.get(message_id="second@customers.test")
    assert second.mailbox == mailbox and second.ticket_id == ticket.pk


def test_message_over_the_size_limit_is_refused_with_552(mailbox: Mailbox, smtp_port: int) -> None:
    big = email(body=("x" * 70 + "\n") * 4000)  # ~290 kB against a 200 kB limit
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        # smtplib announces SIZE, so the refusal comes at MAIL FROM already.
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as error:
            client.sendmail("pat@customers.test", ["help@acme.test"], big)
    assert error.value.smtp_code == 552
    assert InboundMessage.objects.count() == 0


def test_lmtp_answers_per_recipient(mailbox: Mailbox, lmtp_port: int) -> None:
    Mailbox.objects.create(name="Sales", address="sales@acme.test")
    client = smtplib.LMTP("127.0.0.1", lmtp_port, timeout=10)
    try:
        client.ehlo()  # sends LHLO
        client.mail("pat@customers.test")
        assert client.rcpt("help@acme.test")[0] == 250
        assert client.rcpt("sales@acme.test")[0] == 250
        assert client.rcpt("nobody@acme.test")[0] == 550
        # smtplib reads one reply after DATA; LMTP sends one per accepted recipient.
        first = client.data(email())
        second = client.getreply()
    finally:
        client.quit()
    assert first[0] == 250 and second[0] == 250
    assert sorted(InboundMessage.objects.values_list("mailbox__address", flat=True)) == [
        "help@acme.test",
        "sales@acme.test",
    ]
