"""Background work for tickets: notifications. Each task takes IDs and is safe to run twice.

Running twice may send a notification twice, which is the lesser evil than
never sending it; each task re-reads the data and skips when it no longer
applies (ticket deleted, agent deactivated, notifications turned off).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django_tasks import task

from concierge.accounts.models import User
from concierge.core.sanitize import plain_text
from concierge.tickets.models import Entry, Ticket

logger = logging.getLogger(__name__)


def _send(subject: str, body: str, recipient: str, from_email: str | None = None) -> None:
    from_email = from_email or settings.DEFAULT_FROM_EMAIL
    send_mail(subject, body, from_email, [recipient], fail_silently=False)


def _mail() -> Any:
    # Imported late: the email channel builds on tickets, not the other way round.
    from concierge.mail import actions, outbound

    return actions, outbound


@task()
def notify_customer_of_reply(entry_id: int) -> None:
    """Emails the requester and CCs that an agent replied, with a link to the portal.

    When the email channel has a mailbox for the ticket, the reply itself goes
    out as a threaded email from that mailbox instead.
    """
    # A visitor in a live chat reads the reply in the widget; an email for each
    # chat message would be noise. Once the chat has ended, replies go by email.
    if Entry.objects.filter(pk=entry_id, ticket__chat_conversation__status="active").exists():
        return
    if _mail()[0].queue_reply_email(entry_id=entry_id):
        return
    entry = (
        Entry.objects.select_related("ticket__requester", "author_user").filter(pk=entry_id).first()
    )
    if entry is None or not entry.is_public or entry.author_user_id is None:
        return
    ticket = entry.ticket
    recipients = [ticket.requester, *ticket.ccs.all()]
    link = f"{settings.SITE_URL}/portal/requests/{ticket.pk}/"
    text = plain_text(entry.body_html, limit=4000)
    for customer in recipients:
        email = customer.primary_email
        if email:
            _send(
                f"[#{ticket.pk}] {ticket.subject}",
                f"{entry.author_name} replied to your request:\n\n{text}\n\n"
                f"View and reply: {link}\n",
                email,
            )


@task()
def notify_agent_of_assignment(ticket_id: int, agent_id: int) -> None:
    ticket = Ticket.objects.filter(pk=ticket_id, assignee_id=agent_id).first()
    agent = User.objects.filter(pk=agent_id, is_active=True, notify_on_assignment=True).first()
    if ticket is None or agent is None:
        return
    if custom := _mail()[1].agent_notification(
        kind="assignment", ticket=ticket, agent_name=agent.name
    ):
        from_email, subject, body = custom
        _send(subject, body, agent.email, from_email)
        return
    _send(
        f"[#{ticket.pk}] Assigned to you: {ticket.subject}",
        f"Ticket #{ticket.pk} was assigned to you.\n\n{settings.SITE_URL}/tickets/{ticket.pk}/\n",
        agent.email,
    )


@task()
def notify_agent_of_customer_reply(entry_id: int) -> None:
    entry = (
        Entry.objects.select_related("ticket__assignee", "author_customer")
        .filter(pk=entry_id)
        .first()
    )
    if entry is None or entry.ticket.assignee is None:
        return
    agent = entry.ticket.assignee
    if not (agent.is_active and agent.notify_on_customer_reply):
        return
    ticket = entry.ticket
    if custom := _mail()[1].agent_notification(
        kind="customer_reply", ticket=ticket, agent_name=agent.name, entry=entry
    ):
        from_email, subject, body = custom
        _send(subject, body, agent.email, from_email)
        return
    _send(
        f"[#{ticket.pk}] New reply from {entry.author_name}: {ticket.subject}",
        f"{plain_text(entry.body_html, limit=4000)}\n\n{settings.SITE_URL}/tickets/{ticket.pk}/\n",
        agent.email,
    )


@task()
def notify_agent_of_mention(entry_id: int, agent_id: int) -> None:
    entry = Entry.objects.select_related("ticket", "author_user").filter(pk=entry_id).first()
    agent = User.objects.filter(pk=agent_id, is_active=True, notify_on_mention=True).first()
    if entry is None or agent is None:
        return
    ticket = entry.ticket
    _send(
        f"[#{ticket.pk}] {entry.author_name} mentioned you: {ticket.subject}",
        f"{plain_text(entry.body_html, limit=4000)}\n\n{settings.SITE_URL}/tickets/{ticket.pk}/\n",
        agent.email,
    )
