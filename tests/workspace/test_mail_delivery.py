"""The ticket page shows how each emailed reply went, lets agents retry a failed one,
shows received mail's quoted history collapsed, and serves its original to staff."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.core import mail

from concierge.mail.models import InboundStatus, Mailbox, OutboundMessage, OutboundStatus
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import Entry, EntryKind, Ticket
from tests.conftest import signed_in_client
from tests.factories import EntryFactory, TicketFactory, make_agent
from tests.mail.messages import deliver, email

pytestmark = pytest.mark.django_db

QUOTED_REPLY = (
    "Thanks, that worked!\n\n"
    "On Mon, 2 Jun 2025 at 10:00, Acme Help <help@acme.test> wrote:\n"
    "> Please restart the <router> and try again.\n"
)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox.objects.create(
        name="Acme support", from_name="Acme Help", address="help@acme.test", is_default=True
    )


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Runs what actions queue for after the commit (tasks run inline in tests)."""
    return django_capture_on_commit_callbacks


def _ticket() -> Ticket:
    return cast(Ticket, TicketFactory())


def _entry(**fields: Any) -> Entry:
    return cast(Entry, EntryFactory(**fields))


def _failed_reply(agent: Any, commit: Any) -> tuple[Entry, OutboundMessage]:
    """A reply whose email went out, then marked failed as a refused send leaves it."""
    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=agent, ticket=_ticket(), body="On its way.")
    message = OutboundMessage.objects.get(entry=entry)
    message.status = OutboundStatus.FAILED
    message.last_error = "SMTPRecipientsRefused: pat@customers.test: 550 <mailbox> unknown"
    message.save()
    entry.metadata = {
        **entry.metadata,
        "delivery": {
            "status": "failed",
            "outbound_id": message.pk,
            "attempts": 1,
            "error": message.last_error,
        },
    }
    entry.save(update_fields=["metadata"])
    return entry, message


def _page(user: Any, ticket_id: int) -> str:
    response = signed_in_client(user).get(f"/tickets/{ticket_id}/")
    assert response.status_code == 200
    return response.content.decode()


# --- delivery state -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivery", "shown"),
    [
        ({"status": "queued", "outbound_id": 1}, "Email queued"),
        ({"status": "sending", "outbound_id": 1}, "Sending email…"),
        (
            {
                "status": "retrying",
                "outbound_id": 1,
                "error": "SMTPServerDisconnected: 451 try later",
                "next_attempt_at": "2025-06-02T10:05:00+00:00",
            },
            'Email not sent yet, retrying</span> at <time datetime="2025-06-02T10:05:00+00:00">',
        ),
        (
            {"status": "sent", "outbound_id": 1, "sent_at": "2025-06-02T10:01:00+00:00"},
            "Emailed</span> <time",
        ),
    ],
)
def test_ticket_page_shows_each_delivery_state(agent_user, delivery, shown):
    entry = _entry(author_user=agent_user, metadata={"delivery": delivery})

    content = _page(agent_user, entry.ticket_id)

    assert f"delivery--{delivery['status']}" in content
    assert shown in content
    assert "Retry sending" not in content


def test_failed_delivery_shows_the_escaped_reason_and_a_retry_button(agent_user, mailbox, commit):
    entry, message = _failed_reply(agent_user, commit)

    content = _page(agent_user, entry.ticket_id)

    assert "Email not delivered" in content
    assert "550 &lt;mailbox&gt; unknown" in content and "<mailbox>" not in content
    assert f'action="/tickets/{entry.ticket_id}/emails/{message.pk}/retry/"' in content
    assert "Retry sending" in content


def test_light_agent_sees_a_failed_delivery_without_the_retry_button(
    light_agent_user, agent_user, mailbox, commit
):
    entry, _ = _failed_reply(agent_user, commit)

    content = _page(light_agent_user, entry.ticket_id)

    assert "Email not delivered" in content
    assert "Retry sending" not in content


def test_agent_retries_a_failed_email_and_it_is_sent(agent_user, mailbox, commit):
    entry, message = _failed_reply(make_agent(), commit)
    client = signed_in_client(agent_user)

    with commit(execute=True):
        response = client.post(f"/tickets/{entry.ticket_id}/emails/{message.pk}/retry/")

    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{entry.ticket_id}/#entry-{entry.pk}"
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    assert len(mail.outbox) == 2  # the first send and the retry
    entry.refresh_from_db()
    assert entry.metadata["delivery"]["status"] == "sent"
    assert "Emailed" in _page(agent_user, entry.ticket_id)


def test_retry_queues_the_email_again_before_it_is_sent(agent_user, mailbox, commit):
    entry, message = _failed_reply(agent_user, commit)

    signed_in_client(agent_user).post(f"/tickets/{entry.ticket_id}/emails/{message.pk}/retry/")

    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (OutboundStatus.QUEUED, 0, "")
    assert "Email queued" in _page(agent_user, entry.ticket_id)


def test_light_agent_cannot_retry_and_nothing_changes(
    light_agent_user, agent_user, mailbox, commit
):
    entry, message = _failed_reply(agent_user, commit)

    response = signed_in_client(light_agent_user).post(
        f"/tickets/{entry.ticket_id}/emails/{message.pk}/retry/"
    )

    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED
    entry.refresh_from_db()
    assert entry.metadata["delivery"]["status"] == "failed"


def test_customer_cannot_retry_their_own_tickets_email(customer_user, agent_user, mailbox, commit):
    entry, message = _failed_reply(agent_user, commit)

    response = signed_in_client(customer_user).post(
        f"/tickets/{entry.ticket_id}/emails/{message.pk}/retry/"
    )

    assert response.status_code == 403
    assert OutboundMessage.objects.get(pk=message.pk).status == OutboundStatus.FAILED


def test_retrying_an_email_that_did_not_fail_says_why_and_changes_nothing(
    agent_user, mailbox, commit
):
    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=agent_user, ticket=_ticket(), body="Hi")
    message = OutboundMessage.objects.get(entry=entry)

    response = signed_in_client(agent_user).post(
        f"/tickets/{entry.ticket_id}/emails/{message.pk}/retry/", follow=True
    )

    assert "Not sent again: Only failed emails can be sent again" in response.content.decode()
    assert OutboundMessage.objects.get(pk=message.pk).status == OutboundStatus.SENT
    assert len(mail.outbox) == 1


def test_bounce_is_marked_on_the_reply_it_refers_to(agent_user):
    entry = _entry(
        author_user=agent_user,
        metadata={
            "delivery": {"status": "sent", "outbound_id": 1},
            "delivery_failed": {
                "action": "failed",
                "status": "5.1.1",
                "recipient": "pat@customers.test",
                "diagnostic": "smtp; 550 5.1.1 <pat@customers.test> does not exist",
            },
        },
    )

    content = _page(agent_user, entry.ticket_id)

    assert "Bounced</span> for pat@customers.test" in content
    assert "550 5.1.1 &lt;pat@customers.test&gt; does not exist" in content


# --- received mail ----------------------------------------------------------------------------


def test_received_reply_shows_quoted_history_collapsed_and_escaped(agent_user, mailbox):
    message = deliver(mailbox, email(body=QUOTED_REPLY))
    assert message.ticket_id is not None

    content = _page(agent_user, message.ticket_id)

    assert "Thanks, that worked!" in content
    assert "<summary>Show quoted text</summary>" in content
    assert "restart the &lt;router&gt; and try again" in content
    assert "<router>" not in content
    assert f'href="/mail/messages/{message.pk}/original/"' in content


def test_staff_download_the_original_message_as_plain_text(light_agent_user, mailbox):
    raw = email(body="<script>alert(1)</script>")
    message = deliver(mailbox, raw)

    response = signed_in_client(light_agent_user).get(f"/mail/messages/{message.pk}/original/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == raw  # type: ignore[attr-defined]


def test_customers_never_download_an_original_message(customer_user, mailbox):
    message = deliver(mailbox, email(sender=f"Me <{customer_user.email}>"))

    response = signed_in_client(customer_user).get(f"/mail/messages/{message.pk}/original/")

    assert response.status_code == 403


def test_only_admins_download_the_original_of_a_quarantined_message(
    agent_user, admin_user, mailbox
):
    message = deliver(mailbox, b"Subject: who am I\r\n\r\nNo From header.\r\n")
    assert message.status == InboundStatus.QUARANTINED
    url = f"/mail/messages/{message.pk}/original/"

    assert signed_in_client(agent_user).get(url).status_code == 404
    assert signed_in_client(admin_user).get(url).status_code == 200


def test_ticket_page_query_count_stays_flat_with_mail_entries(
    agent_user, mailbox, django_assert_max_num_queries
):
    from tests.workspace.test_ticket_page import TICKET_PAGE_QUERY_LIMIT

    ticket = deliver(mailbox, email(body=QUOTED_REPLY)).ticket
    assert ticket is not None
    for index in range(10):
        EntryFactory(
            ticket=ticket,
            author_user=agent_user,
            kind=EntryKind.PUBLIC_REPLY,
            metadata={"delivery": {"status": "failed", "outbound_id": index + 1, "error": "x"}},
        )
    client = signed_in_client(agent_user)

    with django_assert_max_num_queries(TICKET_PAGE_QUERY_LIMIT):
        response = client.get(f"/tickets/{ticket.pk}/")

    assert response.content.decode().count("Retry sending") == 10
