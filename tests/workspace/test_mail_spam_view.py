"""Mail judged spam stays out of the working views and waits in the built-in "Spam" view."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from concierge.core.models import Tag
from concierge.mail.models import Mailbox
from concierge.tickets.models import Status, Ticket
from tests.conftest import signed_in_client
from tests.factories import TicketFactory
from tests.mail.messages import deliver, email

pytestmark = pytest.mark.django_db


def _ticket(**fields: Any) -> Ticket:
    return cast(Ticket, TicketFactory(**fields))


def _ticket_ids(content: bytes) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-ticket-id="(\d+)"', content.decode())}


def test_spam_tagged_tickets_leave_the_working_views_for_the_spam_view(agent_user):
    spam = _ticket(status=Status.OPEN, assignee=agent_user)
    spam.tags.add(Tag.objects.create(name="spam"))
    solved_spam = _ticket(status=Status.SOLVED)
    solved_spam.tags.add(Tag.objects.get(name="spam"))
    genuine = _ticket(status=Status.OPEN, assignee=agent_user)
    client = signed_in_client(agent_user)

    shown = {
        slug: _ticket_ids(client.get(f"/inbox/{slug}/").content)
        for slug in ("my-open", "unassigned", "all-open", "spam")
    }

    assert shown["my-open"] == {genuine.pk}
    assert shown["all-open"] == {genuine.pk}
    assert spam.pk not in shown["unassigned"]
    assert shown["spam"] == {spam.pk}  # unsolved spam only


def test_sidebar_lists_the_spam_view_with_its_count(agent_user):
    _ticket(status=Status.NEW).tags.add(Tag.objects.create(name="spam"))

    content = signed_in_client(agent_user).get("/inbox/all-open/").content.decode()

    assert re.search(
        r'href="/inbox/spam/"\s*>\s*<span>Spam</span><span class="count">1</span>', content
    )


def test_mail_over_the_spam_threshold_lands_in_the_spam_view(agent_user):
    mailbox = Mailbox.objects.create(name="Acme", address="help@acme.test", spam_threshold=5.0)
    ticket = deliver(mailbox, email(headers={"X-Spam-Score": "9.3"})).ticket
    assert ticket is not None
    client = signed_in_client(agent_user)

    assert _ticket_ids(client.get("/inbox/spam/").content) == {ticket.pk}
    assert ticket.pk not in _ticket_ids(client.get("/inbox/all-open/").content)
