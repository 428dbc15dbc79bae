"""A message that cannot be processed is quarantined, kept raw, and can be re-processed."""

from __future__ import annotations

from unittest import mock

import pytest

from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.mail import actions, services
from concierge.mail.models import InboundStatus, Mailbox
from concierge.tickets.models import Ticket
from tests.mail.messages import deliver, email

pytestmark = pytest.mark.django_db


def test_message_without_a_sender_is_quarantined_with_a_clear_error(mailbox: Mailbox) -> None:
    message = deliver(mailbox, b"Subject: who am I\r\n\r\nNo From header at all.\r\n")
    assert message.status == InboundStatus.QUARANTINED
    assert message.error == "ValidationFailed: The message has no readable From address."
    assert services.raw_bytes(message).startswith(b"Subject: who am I")
    assert Ticket.objects.count() == 0


def test_failure_rolls_back_and_quarantines_then_reprocess_succeeds(
    mailbox: Mailbox, admin_user: object, django_capture_on_commit_callbacks: object
) -> None:
    with mock.patch.object(actions, "_link_inline_images", side_effect=RuntimeError("disk full")):
        message = deliver(mailbox, email(html="<p>Hello</p>"))
    assert message.status == InboundStatus.QUARANTINED
    assert message.error == "RuntimeError: disk full"
    assert Ticket.objects.count() == 0  # the half-made ticket was rolled back
    assert list(services.list_quarantined(user=admin_user)) == [message]

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        actions.reprocess_message(actor=admin_user, message=message)
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED
    assert Ticket.objects.count() == 1


def test_admin_can_discard_a_quarantined_message(mailbox: Mailbox, admin_user: object) -> None:
    message = deliver(mailbox, b"Subject: x\r\n\r\nbody")
    actions.discard_message(actor=admin_user, message=message)
    message.refresh_from_db()
    assert message.status == InboundStatus.DISCARDED
    with pytest.raises(ValidationFailed):
        actions.discard_message(actor=admin_user, message=message)


def test_agents_cannot_see_or_handle_quarantine(mailbox: Mailbox, agent_user: object) -> None:
    message = deliver(mailbox, b"Subject: x\r\n\r\nbody")
    with pytest.raises(PermissionDenied):
        services.list_quarantined(user=agent_user)
    with pytest.raises(PermissionDenied):
        actions.reprocess_message(actor=agent_user, message=message)
    with pytest.raises(PermissionDenied):
        actions.discard_message(actor=agent_user, message=message)
    message.refresh_from_db()
    assert message.status == InboundStatus.QUARANTINED


def test_processed_message_cannot_be_reprocessed(mailbox: Mailbox, admin_user: object) -> None:
    message = deliver(mailbox, email())
    with pytest.raises(ValidationFailed, match="processed"):
        actions.reprocess_message(actor=admin_user, message=message)


def test_django_admin_lists_quarantine_and_reprocesses(
    mailbox: Mailbox, admin_user: object, django_capture_on_commit_callbacks: object
) -> None:
    from tests.conftest import signed_in_client

    with mock.patch.object(actions, "_link_inline_images", side_effect=RuntimeError("boom")):
        message = deliver(mailbox, email(html="<p>x</p>"))
    client = signed_in_client(admin_user)
    page = client.get("/admin/mail/inboundmessage/?status__exact=quarantined")
    assert page.status_code == 200 and b"RuntimeError: boom" in page.content
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = client.post(
            "/admin/mail/inboundmessage/",
            {"action": "reprocess", "_selected_action": [message.pk]},
        )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED
