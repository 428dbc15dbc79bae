"""Background work for routing. Each task takes IDs and is safe to run twice.

* ``process_ticket_event``: a new ticket or customer message -> triage, rules,
  assignment (tickets.actions enqueues it after commit);
* ``fill_free_capacity``: an agent came online or freed a slot -> assign the
  oldest waiting tickets of their teams;
* ``assign_waiting_ticket``: a ticket was moved to a team without an assignee;
* ``drain_all_queues``: the sweep (also ``manage drain_queues``, for cron) that
  catches whatever an event missed;
* ``notify_agents_by_email``: a rule's "notify" action.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django_tasks import task

from concierge.accounts.models import User
from concierge.automation import actions, assignment
from concierge.automation.models import AssignmentStrategy, TeamRouting
from concierge.tickets.models import Ticket

logger = logging.getLogger(__name__)


@task()
def process_ticket_event(ticket_id: int, event: str, entry_id: int | None = None) -> None:
    """Triage, rules, assignment for one ticket event; a second run finds its record and stops."""
    actions.process_ticket_event(ticket_id=ticket_id, event=event, entry_id=entry_id)


@task()
def fill_free_capacity(agent_id: int) -> None:
    """Assigns waiting tickets of the agent's teams while anyone there is free."""
    actions.fill_free_capacity(agent_id=agent_id)


@task()
def assign_waiting_ticket(ticket_id: int) -> None:
    """Assigns one unassigned ticket by its team's strategy (nothing when already assigned)."""
    assignment.assign_ticket(ticket_id=ticket_id, via="routing")


@task()
def drain_team_queue_task(team_id: int) -> None:
    assignment.drain_team_queue(team_id)


@task()
def drain_all_queues() -> None:
    """Every team with automatic assignment: assign its waiting tickets to free agents."""
    team_ids = TeamRouting.objects.exclude(strategy=AssignmentStrategy.MANUAL).values_list(
        "team_id", flat=True
    )
    for team_id in team_ids:
        assignment.drain_team_queue(team_id)


@task()
def notify_agents_by_email(
    ticket_id: int, agent_ids: list[int], message: str, rule_name: str
) -> None:
    """Emails each agent a rule's notice about a ticket (skips deactivated agents)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    for agent in User.objects.filter(pk__in=agent_ids, is_active=True):
        send_mail(
            f"[#{ticket.pk}] {ticket.subject}",
            f"{message}\n\n(Rule: {rule_name})\n\n{settings.SITE_URL}/tickets/{ticket.pk}/\n",
            settings.DEFAULT_FROM_EMAIL,
            [agent.email],
            fail_silently=False,
        )
