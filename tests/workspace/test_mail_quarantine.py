"""The inbound log for admins: quarantined and ignored mail, its error and raw original,
re-processing and discarding. Agents are refused and nothing changes."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from concierge.mail import actions
from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
from concierge.mail.services import RAW_PREVIEW_MAX_BYTES
from concierge.tickets.models import Ticket
from tests.conftest import signed_in_client
from tests.mail.messages import deliver, email

pytestmark = pytest.mark.django_db

NO_SENDER = b"Subject: <b>who am I</b>\r\n\r\nNo From header, but <script>alert(1)</script>.\r\n"


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox.objects.create(name="Acme support", address="help@acme.test")


@pytest.fixture
def quarantined(mailbox: Mailbox) -> InboundMessage:
    with mock.patch.object(actions, "_link_inline_images", side_effect=RuntimeError("disk <full>")):
        message = deliver(mailbox, email(html="<p>Hello</p>"))
    assert message.status == InboundStatus.QUARANTINED
    return message


def test_admin_sees_quarantined_mail_with_mailbox_sender_subject_and_error(admin_user, quarantined):
    response = signed_in_client(admin_user).get("/settings/mail/quarantine/")
    content = response.content.decode()

    assert response.status_code == 200
    assert "help@acme.test" in content
    assert "pat@customers.test" in content
    assert "My order has not arrived" in content
    assert "RuntimeError: disk &lt;full&gt;" in content
    assert f'href="/settings/mail/quarantine/{quarantined.pk}/"' in content
    assert 'aria-current="page">Quarantined <span class="count">1</span>' in content


def test_ignored_loop_mail_is_listed_on_its_own_tab(admin_user, mailbox):
    ignored = deliver(mailbox, email(sender="Our own <help@acme.test>"))
    assert ignored.status == InboundStatus.IGNORED
    client = signed_in_client(admin_user)

    quarantine_tab = client.get("/settings/mail/quarantine/").content.decode()
    ignored_tab = client.get("/settings/mail/quarantine/?status=ignored").content.decode()

    assert "(loop)" not in quarantine_tab
    assert "Sent from our own address help@acme.test (loop)." in ignored_tab


def test_detail_shows_the_error_and_the_raw_message_escaped(admin_user, mailbox):
    message = deliver(mailbox, NO_SENDER)

    response = signed_in_client(admin_user).get(f"/settings/mail/quarantine/{message.pk}/")
    content = response.content.decode()

    assert response.status_code == 200
    assert "ValidationFailed: The message has no readable From address." in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<script>alert(1)" not in content
    assert "Re-process</button>" in content and "Discard</button>" in content
    assert f'href="/mail/messages/{message.pk}/original/"' in content


def test_detail_previews_only_the_start_of_a_large_message(admin_user, mailbox):
    body = "x" * 70 + "\n"
    raw = b"Subject: big\r\n\r\n" + (body * 2000).encode() + b"THE-END\r\n"
    message = deliver(mailbox, raw)
    assert len(raw) > RAW_PREVIEW_MAX_BYTES

    content = signed_in_client(admin_user).get(f"/settings/mail/quarantine/{message.pk}/")

    assert b"THE-END" not in content.content
    assert b"download it for the rest" in content.content


def test_admin_reprocesses_a_quarantined_message_into_a_ticket(
    admin_user, quarantined, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client(admin_user).post(
            f"/settings/mail/quarantine/{quarantined.pk}/reprocess/"
        )

    assert response.status_code == 302
    quarantined.refresh_from_db()
    assert quarantined.status == InboundStatus.PROCESSED
    assert Ticket.objects.filter(pk=quarantined.ticket_id).exists()


def test_admin_discards_a_quarantined_message(admin_user, quarantined):
    response = signed_in_client(admin_user).post(
        f"/settings/mail/quarantine/{quarantined.pk}/discard/", follow=True
    )

    assert "The message was discarded." in response.content.decode()
    quarantined.refresh_from_db()
    assert quarantined.status == InboundStatus.DISCARDED
    assert Ticket.objects.count() == 0


def test_reprocessing_a_processed_message_is_refused_with_the_reason(admin_user, mailbox):
    message = deliver(mailbox, email())

    response = signed_in_client(admin_user).post(
        f"/settings/mail/quarantine/{message.pk}/reprocess/", follow=True
    )

    assert "this one is processed" in response.content.decode()
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED


@pytest.mark.parametrize("suffix", ["", "{pk}/"])
def test_agents_cannot_open_the_inbound_log(agent_user, light_agent_user, quarantined, suffix):
    url = "/settings/mail/quarantine/" + suffix.format(pk=quarantined.pk)

    assert signed_in_client(agent_user).get(url).status_code == 403
    assert signed_in_client(light_agent_user).get(url).status_code == 403


@pytest.mark.parametrize("action", ["reprocess", "discard"])
def test_agents_cannot_reprocess_or_discard_and_nothing_changes(
    agent_user: Any, quarantined: InboundMessage, action: str
) -> None:
    response = signed_in_client(agent_user).post(
        f"/settings/mail/quarantine/{quarantined.pk}/{action}/"
    )

    assert response.status_code == 403
    quarantined.refresh_from_db()
    assert quarantined.status == InboundStatus.QUARANTINED
    assert quarantined.error == "RuntimeError: disk <full>"
    assert Ticket.objects.count() == 0
