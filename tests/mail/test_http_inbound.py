"""The HTTP inbound endpoints: raw RFC 5322, Postmark and Mailgun, authenticated per mailbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from concierge.mail.models import RAW_MESSAGE_MAX_BYTES, InboundMessage, InboundStatus, Mailbox
from concierge.tickets.models import Ticket
from tests.mail.messages import email

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    # Mail servers send no CSRF token: the endpoints must not need one.
    return Client(enforce_csrf_checks=True)


def _url(mailbox: Mailbox, kind: str) -> str:
    return f"/api/v1/mail/inbound/{mailbox.pk}/{kind}"


def test_raw_message_with_mailbox_secret_is_stored_and_processed(
    client: Client, mailbox: Mailbox, django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = client.post(
            _url(mailbox, "raw"),
            email(),
            content_type="message/rfc822",
            headers={"X-Concierge-Mailbox-Secret": mailbox.inbound_secret},
        )

    assert response.status_code == 202, response.content
    message = InboundMessage.objects.get(pk=response.json()["id"])
    assert message.source == "http" and message.status == InboundStatus.PROCESSED
    assert message.ticket is not None


def test_basic_auth_password_is_accepted_as_the_secret(client: Client, mailbox: Mailbox) -> None:
    credentials = base64.b64encode(f"inbound:{mailbox.inbound_secret}".encode()).decode()
    response = client.post(
        _url(mailbox, "raw"),
        email(),
        content_type="message/rfc822",
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 202
    assert InboundMessage.objects.count() == 1


def test_missing_secret_is_refused_and_stores_nothing(client: Client, mailbox: Mailbox) -> None:
    response = client.post(_url(mailbox, "raw"), email(), content_type="message/rfc822")
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize("kind", ["raw", "postmark", "mailgun"])
def test_wrong_secret_is_refused_and_stores_nothing(
    client: Client, mailbox: Mailbox, kind: str
) -> None:
    response = client.post(
        _url(mailbox, kind),
        email(),
        content_type="message/rfc822",
        headers={"X-Concierge-Mailbox-Secret": "wrong"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert InboundMessage.objects.count() == 0


def test_unknown_mailbox_answers_like_a_wrong_secret(client: Client, mailbox: Mailbox) -> None:
    response = client.post(
        f"/api/v1/mail/inbound/{mailbox.pk + 99}/raw",
        email(),
        content_type="message/rfc822",
        headers={"X-Concierge-Mailbox-Secret": mailbox.inbound_secret},
    )
    assert response.status_code == 403


def test_user_token_is_not_enough(client: Client, mailbox: Mailbox, admin_user: object) -> None:
    from tests.conftest import signed_in_client

    response = signed_in_client(admin_user).post(
        _url(mailbox, "raw"), email(), content_type="message/rfc822"
    )
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_oversized_raw_message_gets_a_clear_413(client: Client, mailbox: Mailbox) -> None:
    response = client.post(
        _url(mailbox, "raw"),
        b"x" * (RAW_MESSAGE_MAX_BYTES + 1),
        content_type="message/rfc822",
        headers={"X-Concierge-Mailbox-Secret": mailbox.inbound_secret},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "limit_exceeded"
    assert "25 MB" in response.json()["message"]
    assert InboundMessage.objects.count() == 0


def test_raw_message_over_the_api_body_limit_but_under_25_mb_is_accepted(
    client: Client, mailbox: Mailbox
) -> None:
    raw = email(body="a" * 60 + "\n" * 1 + ("b" * 70 + "\n") * 90_000)  # ~6.4 MB
    response = client.post(
        _url(mailbox, "raw"),
        raw,
        content_type="message/rfc822",
        headers={"X-Concierge-Mailbox-Secret": mailbox.inbound_secret},
    )
    assert response.status_code == 202


def test_postmark_webhook_becomes_a_ticket(
    client: Client, mailbox: Mailbox, django_capture_on_commit_callbacks: object
) -> None:
    payload = {
        "FromFull": {"Email": "pat@customers.test", "Name": "Pat Customer"},
        "ToFull": [{"Email": "help@acme.test", "Name": ""}],
        "Subject": "Refund please",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "TextBody": "I want a refund.",
        "Headers": [{"Name": "Message-ID", "Value": "<pm-1@customers.test>"}],
        "Attachments": [],
    }
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = client.post(
            _url(mailbox, "postmark"),
            json.dumps(payload),
            content_type="application/json",
            headers={"X-Concierge-Mailbox-Secret": mailbox.inbound_secret},
        )
    assert response.status_code == 202, response.content
    assert Ticket.objects.get().subject == "Refund please"


def test_postmark_invalid_json_is_refused(client: Client, mailbox: Mailbox) -> None:
    response = client.post(
        _url(mailbox, "postmark"),
        "{not json",
        content_type="application/json",
        headers={"X-Concierge-Mailbox-Secret": mailbox.inbound_secret},
    )
    assert response.status_code == 422
    assert InboundMessage.objects.count() == 0


def _basic(mailbox: Mailbox) -> dict[str, str]:
    credentials = base64.b64encode(f"inbound:{mailbox.inbound_secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def _mailgun_signature(key: str) -> dict[str, str]:
    timestamp, token = str(int(time.time())), "a" * 50
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": signature}


def test_mailgun_signed_mime_post_is_stored(client: Client, mailbox: Mailbox) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    mailbox.mailgun_signing_key = "key-mailgun-test"
    mailbox.save()
    response = client.post(
        _url(mailbox, "mailgun"),
        {
            **_mailgun_signature("key-mailgun-test"),
            "recipient": "help@acme.test",
            "sender": "pat@customers.test",
            "body-mime": SimpleUploadedFile("message.mime", email(), "message/rfc822"),
        },
        headers=_basic(mailbox),
    )
    assert response.status_code == 202, response.content
    assert InboundMessage.objects.get().message_id == "first@customers.test"


def test_mailgun_parsed_fields_with_attachment_are_stored(client: Client, mailbox: Mailbox) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    mailbox.mailgun_signing_key = "key-mailgun-test"
    mailbox.save()
    response = client.post(
        _url(mailbox, "mailgun"),
        {
            **_mailgun_signature("key-mailgun-test"),
            "recipient": "help@acme.test",
            "from": "Pat <pat@customers.test>",
            "subject": "Broken part",
            "body-plain": "See the photo.",
            "message-headers": json.dumps([["Message-Id", "<mg-1@customers.test>"]]),
            "attachment-count": "1",
            "attachment-1": SimpleUploadedFile("photo.jpg", b"\xff\xd8jpeg", "image/jpeg"),
        },
        headers=_basic(mailbox),
    )
    assert response.status_code == 202, response.content
    assert InboundMessage.objects.get().subject == "Broken part"


def test_mailgun_bad_signature_is_refused(client: Client, mailbox: Mailbox) -> None:
    mailbox.mailgun_signing_key = "key-mailgun-test"
    mailbox.save()
    response = client.post(
        _url(mailbox, "mailgun"),
        {**_mailgun_signature("another-key"), "body-mime": email().decode()},
        headers=_basic(mailbox),
    )
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0
