"""Agents' replies, acknowledgements and notifications leave by mail from the right mailbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from concierge.core.errors import Conflict, PermissionDenied, ValidationFailed
from concierge.mail import actions
from concierge.mail.models import (
    InboundStatus,
    Mailbox,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    SmtpSecurity,
)
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import Entry
from tests.factories import TicketFactory, make_agent, make_light_agent
from tests.mail.messages import deliver, email
from tests.mail.real_servers import SmtpSink

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Runs what actions queue for after the commit (tasks run inline in tests)."""
    return django_capture_on_commit_callbacks


def _default_mailbox(**changes: object) -> Mailbox:
    fields: dict[str, object] = {
        "name": "Acme",
        "from_name": "Acme Help",
        "address": "help@acme.test",
        "is_default": True,
        **changes,
    }
    return Mailbox.objects.create(**fields)


def test_reply_on_mailed_ticket_goes_out_from_its_mailbox_threaded(
    mailbox: Mailbox, commit: Any
) -> None:
    _default_mailbox(address="other@acme.test")
    with commit(execute=True):
        ticket = deliver(mailbox, email()).ticket
    assert ticket is not None
    agent = make_agent(signature="Alan")

    with commit(execute=True):
        ticket_actions.add_entry(actor=agent, ticket=ticket, body="On its way.")

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.from_email == "Acme support <help@acme.test>"
    assert sent.to == ["pat@customers.test"]
    assert sent.subject == f"Re: My order has not arrived [#{ticket.pk}]"
    assert sent.extra_headers["In-Reply-To"] == "<first@customers.test>"
    assert sent.extra_headers["Auto-Submitted"] == "no"
    assert sent.body == "On its way.\n\n-- \nAlan\n"


def test_reply_on_portal_ticket_uses_the_default_mailbox(commit: Any) -> None:
    _default_mailbox()
    ticket = TicketFactory()

    with commit(execute=True):
        ticket_actions.add_entry(actor=make_agent(), ticket=ticket, body="Hello")

    assert [m.from_email for m in mail.outbox] == ["Acme Help <help@acme.test>"]
    assert "Reply-To" not in mail.outbox[0].extra_headers
    assert mail.outbox[0].reply_to[0].startswith(f"help+t{ticket.pk}-")


def test_without_mailbox_the_generic_notification_is_sent(commit: Any) -> None:
    ticket = TicketFactory()

    with commit(execute=True):
        ticket_actions.add_entry(actor=make_agent(), ticket=ticket, body="Hello")

    assert len(mail.outbox) == 1 and "View and reply" in mail.outbox[0].body
    assert OutboundMessage.objects.count() == 0


def test_internal_note_sends_nothing(commit: Any) -> None:
    _default_mailbox()
    ticket = TicketFactory()
    with commit(execute=True):
        ticket_actions.add_entry(actor=make_agent(), ticket=ticket, body="note", kind="note")
    assert mail.outbox == [] and OutboundMessage.objects.count() == 0


def test_reply_task_run_twice_sends_one_email(commit: Any) -> None:
    from concierge.tickets.tasks import notify_customer_of_reply

    _default_mailbox()
    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=make_agent(), ticket=TicketFactory(), body="Hi")
    notify_customer_of_reply.call(entry.pk)
    assert len(mail.outbox) == 1


def test_temporary_failure_is_retried_with_backoff_then_sent(
    smtp_sink: SmtpSink, commit: Any
) -> None:
    _default_mailbox(smtp_host="127.0.0.1", smtp_port=smtp_sink.port, smtp_security="none")
    smtp_sink.fail_next("451 4.3.0 try later")

    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=make_agent(), ticket=TicketFactory(), body="Hi")

    message = OutboundMessage.objects.get(entry=entry)
    assert message.status == OutboundStatus.QUEUED and message.attempts == 1
    assert message.next_attempt_at is not None
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=50)
    entry.refresh_from_db()
    assert entry.metadata["delivery"]["status"] == "retrying"
    assert "451" in entry.metadata["delivery"]["error"]

    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    with commit(execute=True):
        assert actions.enqueue_due_outbound() == 1

    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT and message.attempts == 2
    assert len(smtp_sink.received) == 1
    entry.refresh_from_db()
    assert entry.metadata["delivery"]["status"] == "sent"


def test_permanent_failure_shows_on_entry_and_can_be_retried(
    smtp_sink: SmtpSink, commit: Any
) -> None:
    _default_mailbox(smtp_host="127.0.0.1", smtp_port=smtp_sink.port, smtp_security="none")
    smtp_sink.fail_next("550 5.7.1 relaying denied")
    agent = make_agent()

    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=agent, ticket=TicketFactory(), body="Hi")

    entry.refresh_from_db()
    assert entry.metadata["delivery"]["status"] == "failed"
    assert "550" in entry.metadata["delivery"]["error"]
    outbound_id = entry.metadata["delivery"]["outbound_id"]

    with commit(execute=True):
        actions.retry_outbound(actor=agent, outbound_id=outbound_id)

    assert OutboundMessage.objects.get(pk=outbound_id).status == OutboundStatus.SENT
    assert len(smtp_sink.received) == 1
    with pytest.raises(Conflict):
        actions.retry_outbound(actor=agent, outbound_id=outbound_id)


def test_unreachable_server_fails_after_bounded_attempts(commit: Any) -> None:
    from tests.mail.real_servers import free_port

    _default_mailbox(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")
    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=make_agent(), ticket=TicketFactory(), body="Hi")
    message = OutboundMessage.objects.get(entry=entry)
    for _ in range(actions.MAX_SEND_ATTEMPTS):
        OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        with commit(execute=True):
            actions.deliver_outbound(outbound_id=message.pk)
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED
    assert message.attempts == actions.MAX_SEND_ATTEMPTS
    assert "ConnectionRefusedError" in message.last_error


def test_light_agent_cannot_retry_a_failed_email(commit: Any) -> None:
    _default_mailbox()
    with commit(execute=True):
        entry = ticket_actions.add_entry(actor=make_agent(), ticket=TicketFactory(), body="Hi")
    message = OutboundMessage.objects.get(entry=entry)
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundStatus.FAILED)

    with pytest.raises(PermissionDenied):
        actions.retry_outbound(actor=make_light_agent(), outbound_id=message.pk)

    assert OutboundMessage.objects.get(pk=message.pk).status == OutboundStatus.FAILED


def test_acknowledgement_answers_new_request_when_turned_on(mailbox: Mailbox, commit: Any) -> None:
    mailbox.acknowledge_new_requests = True
    mailbox.save()

    with commit(execute=True):
        ticket = deliver(mailbox, email()).ticket

    assert ticket is not None
    (ack,) = mail.outbox
    assert ack.to == ["pat@customers.test"]
    assert ack.subject == f"We received your request: My order has not arrived [#{ticket.pk}]"
    assert ack.extra_headers["Auto-Submitted"] == "auto-replied"
    assert ack.extra_headers["In-Reply-To"] == "<first@customers.test>"
    assert f"reference #{ticket.pk}" in ack.body and "Hello Pat Customer" in ack.body
    # The customer's reply to the acknowledgement threads into the same ticket.
    reply = deliver(
        mailbox,
        email(
            message_id="<second@customers.test>",
            in_reply_to=ack.extra_headers["Message-ID"],
            subject="Re: " + ack.subject,
        ),
    )
    assert reply.ticket_id == ticket.pk


def test_no_acknowledgement_by_default(mailbox: Mailbox, commit: Any) -> None:
    with commit(execute=True):
        deliver(mailbox, email())
    assert mail.outbox == []


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-replied"}, {"Precedence": "bulk"}, {"List-Id": "<news.x.test>"}],
)
def test_no_acknowledgement_to_automated_mail(
    mailbox: Mailbox, headers: dict[str, str], commit: Any
) -> None:
    mailbox.acknowledge_new_requests = True
    mailbox.save()
    with commit(execute=True):
        message = deliver(mailbox, email(headers=headers))
    assert message.status == InboundStatus.PROCESSED
    assert mail.outbox == []


def test_acknowledgements_are_rate_limited_per_sender(mailbox: Mailbox, commit: Any) -> None:
    mailbox.acknowledge_new_requests = True
    mailbox.save()
    for n in range(actions.ACKNOWLEDGEMENTS_PER_SENDER_PER_HOUR + 2):
        with commit(execute=True):
            deliver(mailbox, email(message_id=f"<n{n}@customers.test>", subject=f"Question {n}"))
    assert len(mail.outbox) == actions.ACKNOWLEDGEMENTS_PER_SENDER_PER_HOUR
    assert OutboundMessage.objects.filter(kind=OutboundKind.ACKNOWLEDGEMENT).count() == 3


def test_agent_notifications_use_the_mailbox_from_and_template(
    mailbox: Mailbox, commit: Any
) -> None:
    mailbox.from_name = "Acme Help"
    mailbox.assignment_notification_template = "Hi {agent_name}, #{ticket_id} is yours."
    mailbox.save()
    with commit(execute=True):
        ticket = deliver(mailbox, email()).ticket
    assert ticket is not None
    agent, admin = make_agent(name="Alan Agent"), make_agent()

    with commit(execute=True):
        ticket_actions.update_ticket(actor=admin, ticket=ticket, changes={"assignee": agent})
    with commit(execute=True):
        deliver(
            mailbox, email(message_id="<r@customers.test>", in_reply_to="<first@customers.test>")
        )

    assignment, customer_reply = mail.outbox
    assert assignment.from_email == "Acme Help <help@acme.test>"
    assert assignment.body == f"Hi Alan Agent, #{ticket.pk} is yours.\n"
    assert customer_reply.from_email == "Acme Help <help@acme.test>"
    assert customer_reply.to == [agent.email]
    assert "Pat Customer replied" in customer_reply.body


def test_mailbox_templates_reject_unknown_placeholders(admin_user: object) -> None:
    with pytest.raises(ValidationFailed) as error:
        actions.save_mailbox(
            actor=admin_user,
            changes={
                "name": "Acme",
                "address": "help@acme.test",
                "acknowledgement_template": "Hi {customer_name} {ticket.__class__}",
            },
        )
    assert "acknowledgement_template" in error.value.field_errors
    assert Mailbox.objects.count() == 0


def test_only_one_mailbox_is_default(admin_user: object) -> None:
    first = actions.save_mailbox(
        actor=admin_user, changes={"name": "A", "address": "a@acme.test", "is_default": True}
    )
    actions.save_mailbox(
        actor=admin_user, changes={"name": "B", "address": "b@acme.test", "is_default": True}
    )
    first.refresh_from_db()
    assert first.is_default is False
    assert Mailbox.objects.filter(is_default=True).count() == 1


def test_smtp_security_none_uses_plain_connection(smtp_sink: SmtpSink, commit: Any) -> None:
    _default_mailbox(
        smtp_host="127.0.0.1", smtp_port=smtp_sink.port, smtp_security=SmtpSecurity.NONE
    )
    with commit(execute=True):
        ticket_actions.add_entry(actor=make_agent(), ticket=TicketFactory(), body="plain")
    assert len(smtp_sink.received) == 1
    assert Entry.objects.filter(metadata__delivery__status="sent").count() == 1
