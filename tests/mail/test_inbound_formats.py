"""Provider webhooks (Mailgun, Postmark) in their documented formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from concierge.core.errors import PermissionDenied
from concierge.mail.actions import process_inbound_message, receive_provider_payload
from concierge.mail.inbound_formats import (
    from_mailgun,
    from_postmark,
    verify_mailgun_signature,
)
from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
from concierge.mail.parsing import parse_message
from tests.mail.messages import email

SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def _signed(fields: dict[str, str], *, key: str = SIGNING_KEY, at: float | None = None) -> dict:
    timestamp = str(int(at if at is not None else time.time()))
    token = "c2a5e5b3f1d84b0e9a4f7d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": timestamp, "token": token, "signature": signature}


def test_mailgun_signature_is_checked() -> None:
    fields = _signed({})
    assert verify_mailgun_signature(
        signing_key=SIGNING_KEY,
        timestamp=fields["timestamp"],
        token=fields["token"],
        signature=fields["signature"],
    )
    assert not verify_mailgun_signature(
        signing_key="other-key",
        timestamp=fields["timestamp"],
        token=fields["token"],
        signature=fields["signature"],
    )
    old = _signed({}, at=time.time() - 3600)
    assert not verify_mailgun_signature(
        signing_key=SIGNING_KEY,
        timestamp=old["timestamp"],
        token=old["token"],
        signature=old["signature"],
    )


MAILGUN_FIELDS = {
    "recipient": "help@acme.test",
    "sender": "bounce+pat=customers.test@customers.test",
    "from": "Pat Customer <pat@customers.test>",
    "subject": "Re: Broken lamp",
    "body-plain": "It flickers.\n\nOn Mon, Jun 2, 2025 at 10:00 AM Acme wrote:\n> Hi",
    "stripped-text": "It flickers.",
    "body-html": '<p>It flickers. <img src="cid:ii_1"></p>',
    "attachment-count": "2",
    "content-id-map": json.dumps({"<ii_1>": "attachment-2"}),
    "message-headers": json.dumps(
        [
            ["Received", "from mail.customers.test by mxa.mailgun.org"],
            ["From", "Pat Customer <pat@customers.test>"],
            ["To", "Acme <help@acme.test>"],
            ["Cc", "Sam <sam@customers.test>"],
            ["Subject", "Re: Broken lamp"],
            ["Message-Id", "<lamp-2@customers.test>"],
            ["In-Reply-To", "<lamp-1@acme.test>"],
            ["Auto-Submitted", "auto-replied"],
            ["Content-Type", 'multipart/mixed; boundary="xyz"'],
            ["Mime-Version", "1.0"],
        ]
    ),
}


def _mailgun_files() -> dict[str, SimpleUploadedFile]:
    return {
        "attachment-1": SimpleUploadedFile("receipt.pdf", b"%PDF-1.4", "application/pdf"),
        "attachment-2": SimpleUploadedFile("lamp.png", b"\x89PNG\r\n", "image/png"),
    }


def test_mailgun_parsed_fields_become_a_message_with_headers_and_files() -> None:
    envelope = from_mailgun(MAILGUN_FIELDS, _mailgun_files())
    parsed = parse_message(envelope.raw)
    assert (envelope.source, envelope.recipient) == ("mailgun", "help@acme.test")
    assert parsed.message_id == "lamp-2@customers.test"
    assert parsed.in_reply_to == ["lamp-1@acme.test"]
    assert parsed.header("auto-submitted") == "auto-replied"
    assert [a.address for a in parsed.cc] == ["sam@customers.test"]
    assert parsed.text.startswith("It flickers.")
    assert [(a.filename, a.content_id) for a in parsed.attachments] == [
        ("receipt.pdf", ""),
        ("lamp.png", "ii_1"),
    ]


def test_mailgun_raw_mime_route_is_taken_as_is() -> None:
    raw = email()
    envelope = from_mailgun({"body-mime": raw.decode(), "recipient": "help@acme.test"}, {})
    assert envelope.raw == raw


@pytest.mark.django_db
def test_mailgun_webhook_with_valid_signature_is_received(mailbox: Mailbox) -> None:
    mailbox.mailgun_signing_key = SIGNING_KEY
    mailbox.save()
    message = receive_provider_payload(
        mailbox=mailbox, provider="mailgun", payload=_signed(MAILGUN_FIELDS), files=_mailgun_files()
    )
    process_inbound_message(message_id=message.pk)
    message.refresh_from_db()
    assert message.source == "mailgun" and message.status == InboundStatus.PROCESSED
    assert message.entry is not None and message.entry.attachments.count() == 2
    assert message.entry.metadata["is_automated"] is True


@pytest.mark.django_db
def test_mailgun_webhook_with_bad_signature_stores_nothing(mailbox: Mailbox) -> None:
    mailbox.mailgun_signing_key = SIGNING_KEY
    mailbox.save()
    with pytest.raises(PermissionDenied):
        receive_provider_payload(
            mailbox=mailbox,
            provider="mailgun",
            payload=_signed(MAILGUN_FIELDS, key="wrong"),
            files=_mailgun_files(),
        )
    assert InboundMessage.objects.count() == 0


POSTMARK = {
    "FromName": "Pat Customer",
    "MessageStream": "inbound",
    "From": "pat@customers.test",
    "FromFull": {"Email": "pat@customers.test", "Name": "Pat Customer", "MailboxHash": ""},
    "To": '"Acme" <help+t1-abc@acme.test>',
    "ToFull": [{"Email": "help+t1-abc@acme.test", "Name": "Acme", "MailboxHash": "t1-abc"}],
    "Cc": '"Sam" <sam@customers.test>',
    "CcFull": [{"Email": "sam@customers.test", "Name": "Sam Müller", "MailboxHash": ""}],
    "Bcc": "",
    "BccFull": [],
    "OriginalRecipient": "help+t1-abc@acme.test",
    "Subject": "Grüße: lamp",
    "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
    "ReplyTo": "",
    "MailboxHash": "t1-abc",
    "Date": "Mon, 2 Jun 2025 10:00:00 +0000",
    "TextBody": "Here is the photo.",
    "HtmlBody": "<p>Here is the photo.</p>",
    "StrippedTextReply": "Here is the photo.",
    "Tag": "",
    "Headers": [
        {"Name": "X-Spam-Checker-Version", "Value": "SpamAssassin 3.3.1"},
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "X-Spam-Score", "Value": "-0.1"},
        {"Name": "Message-ID", "Value": "<photo-1@customers.test>"},
        {"Name": "References", "Value": "<lamp-1@acme.test>"},
    ],
    "Attachments": [
        {
            "Name": "photo.jpg",
            "Content": base64.b64encode(b"\xff\xd8\xff jpeg").decode(),
            "ContentType": "image/jpeg",
            "ContentLength": 9,
            "ContentID": "",
        }
    ],
}


def test_postmark_payload_becomes_a_message() -> None:
    envelope = from_postmark(POSTMARK)
    parsed = parse_message(envelope.raw)
    assert parsed.message_id == "photo-1@customers.test"
    assert parsed.references == ["lamp-1@acme.test"]
    assert (parsed.from_address, parsed.from_name) == ("pat@customers.test", "Pat Customer")
    assert parsed.subject == "Grüße: lamp"
    assert [(a.name, a.address) for a in parsed.cc] == [("Sam Müller", "sam@customers.test")]
    assert parsed.text == "Here is the photo."
    assert [(a.filename, a.content) for a in parsed.attachments] == [
        ("photo.jpg", b"\xff\xd8\xff jpeg")
    ]


@pytest.mark.django_db
def test_postmark_webhook_is_received_and_deduplicated(mailbox: Mailbox) -> None:
    first = receive_provider_payload(mailbox=mailbox, provider="postmark", payload=POSTMARK)
    again = receive_provider_payload(mailbox=mailbox, provider="postmark", payload=POSTMARK)
    assert first.pk == again.pk
    assert first.message_id == "photo-1@customers.test"


def test_postmark_without_message_id_header_uses_postmark_id() -> None:
    payload = {**POSTMARK, "Headers": []}
    parsed = parse_message(from_postmark(payload).raw)
    assert parsed.message_id == "73e6d360-66eb-11e1-8e72-a8904824019b@inbound.postmarkapp.com"
