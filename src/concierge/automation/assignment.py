"""Assigning a team's tickets to its agents: strategies, capacity, and the waiting queue.

Every strategy picks only among the team's full agents who are *online* and
hold fewer open tickets than their *capacity*. Online for assignment means
both (see ``assignable_agent_ids``):

* the agent chose "online" (``User.availability``), and
* a workspace tab of theirs is connected: its heartbeat on the agent socket
  is newer than ``core.presence.offline_after()`` (``AgentPresence.last_seen_at``).

So an agent who closed the laptop while "online" gets no new work; one who
is connected but idle (presence "away" after a few quiet minutes: reading a
long ticket) still does, because their own choice says they work. When the
workspace connects again, ``realtime.agent`` runs ``fill_free_capacity``.

When nobody is free the ticket
simply stays unassigned in its team: that is the queue (unsolved, in a team
with a strategy, no assignee), oldest first. ``fill_free_capacity`` drains it
when an agent comes online or frees a slot.

Concurrency: ``assign_ticket`` runs in one transaction that locks, in this
order, the ticket, the team's ``TeamRouting`` row and then every candidate
agent (by id, so two workers always lock in the same order and cannot
deadlock). Open-ticket counts are read *after* the agent rows are locked, so
a second worker assigning to the same agent waits for the first to commit and
then sees its assignment: nobody is ever assigned past capacity. On SQLite the
whole write transaction is serialised (``transaction_mode: IMMEDIATE``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from concierge.accounts.models import Availability, Role, User
from concierge.automation.models import (
    AgentRoutingProfile,
    AssignmentStrategy,
    TeamRouting,
)
from concierge.core import presence
from concierge.core.models import AgentPresence
from concierge.tickets.models import SPAM_TAG, UNSOLVED_STATUSES, Status, Ticket

logger = logging.getLogger(__name__)

# What counts against an agent's capacity: tickets that need their work now.
# Pending (waiting for the customer) and on-hold (waiting for a third party)
# tickets stay assigned but leave room for new work.
WORKLOAD_STATUSES = (Status.NEW, Status.OPEN)
ASSIGNING_ROLES = (Role.ADMIN, Role.AGENT)
# A drain assigns at most this many tickets per team in one run; the next
# freed slot or the periodic sweep picks up the rest.
DRAIN_BATCH = 200


@dataclass(frozen=True)
class TicketNeeds:
    """What skills-based assignment matches: the predicted intent and language, the tags."""

    skills: frozenset[str]
    language: str


def open_ticket_counts(agent_ids: Iterable[int]) -> dict[int, int]:
    """agent id -> number of open tickets assigned to them (what capacity limits)."""
    ids = list(agent_ids)
    counts = dict.fromkeys(ids, 0)
    rows = (
        Ticket.objects.filter(assignee_id__in=ids, status__in=WORKLOAD_STATUSES)
        .values("assignee_id")
        .annotate(total=Count("id"))
    )
    for row in rows:
        counts[row["assignee_id"]] = row["total"]
    return counts


def connected_agent_ids(agent_ids: Iterable[int]) -> set[int]:
    """Of ``agent_ids``, those with a workspace tab whose heartbeat is recent (one query)."""
    since = timezone.now() - presence.offline_after()
    return set(
        AgentPresence.objects.filter(
            user_id__in=list(agent_ids), last_seen_at__gte=since
        ).values_list("user_id", flat=True)
    )


def assignable_agent_ids(agents: Iterable[User]) -> set[int]:
    """Agents online for assignment: they chose online *and* their workspace is connected."""
    chosen_online = [agent.pk for agent in agents if agent.availability == Availability.ONLINE]
    return connected_agent_ids(chosen_online) if chosen_online else set()


def waiting_tickets(team_id: int) -> QuerySet[Ticket]:
    """The team's queue: unsolved, unassigned, not spam, not merged; oldest first."""
    return (
        Ticket.objects.filter(
            team_id=team_id,
            assignee__isnull=True,
            status__in=UNSOLVED_STATUSES,
            merged_into__isnull=True,
        )
        .exclude(tags__name=SPAM_TAG)
        .order_by("created_at", "id")
    )


def ticket_needs(ticket: Ticket) -> TicketNeeds:
    """The skills and language a ticket asks for: its intent, its tags, its language."""
    labels = _labels(ticket.pk)
    skills = {name.lower() for name in ticket.tags.values_list("name", flat=True)}
    intent = labels.get("intent", ("", 0.0))[0].lower()
    if intent and intent != "out_of_scope":
        skills.add(intent)
    language = labels.get("language", ("", 0.0))[0].lower()
    return TicketNeeds(frozenset(skills), language)


def _labels(ticket_id: int) -> dict[str, tuple[str, float]]:
    try:
        from concierge.ai.services import effective_labels
    except ImportError:  # the AI app is optional for routing
        return {}
    return effective_labels(ticket_id)


def _rotation(agents: list[User], last_agent_id: int | None) -> list[User]:
    """Team members in round-robin order: the ones after the last assigned, then the rest."""
    ordered = sorted(agents, key=lambda agent: agent.pk)
    if last_agent_id is None:
        return ordered
    after = [agent for agent in ordered if agent.pk > last_agent_id]
    return after + [agent for agent in ordered if agent.pk <= last_agent_id]


def choose_agent(
    *,
    strategy: str,
    candidates: list[User],
    loads: dict[int, int],
    last_agent_id: int | None,
    needs: TicketNeeds | None = None,
    profiles: dict[int, AgentRoutingProfile] | None = None,
    require_skill_match: bool = False,
) -> User | None:
    """The agent ``strategy`` picks among ``candidates`` (already online and under capacity)."""
    if not candidates:
        return None
    rotation = _rotation(candidates, last_agent_id)
    if strategy == AssignmentStrategy.ROUND_ROBIN:
        return rotation[0]
    position = {agent.pk: index for index, agent in enumerate(rotation)}
    if strategy == AssignmentStrategy.SKILLS:
        needs = needs or TicketNeeds(frozenset(), "")
        profiles = profiles or {}

        def skill_matches(agent: User) -> int:
            profile = profiles.get(agent.pk)
            return len(needs.skills & set(profile.skills)) if profile else 0

        def speaks(agent: User) -> bool:
            profile = profiles.get(agent.pk)
            return bool(needs.language and profile and needs.language in profile.languages)

        if require_skill_match and (needs.skills or needs.language):
            rotation = [agent for agent in rotation if skill_matches(agent) or speaks(agent)]
            if not rotation:
                return None
        # Most matching skills, then the language, then the lightest load, then the turn.
        return min(
            rotation,
            key=lambda agent: (
                -skill_matches(agent),
                not speaks(agent),
                loads.get(agent.pk, 0),
                position[agent.pk],
            ),
        )
    # Least open tickets; ties go to whoever's turn it is.
    return min(rotation, key=lambda agent: (loads.get(agent.pk, 0), position[agent.pk]))


@transaction.atomic
def assign_ticket(
    *, ticket_id: int, strategy: str | None = None, via: str = "routing"
) -> User | None:
    """Assigns an unassigned ticket to a free agent of its team; None when it must wait.

    ``strategy`` overrides the team's (a rule's "assign by team strategy" on a
    manual team uses least open tickets). Writes through
    ``tickets.actions.update_ticket`` so the audit trail records it.
    """
    from concierge.tickets.actions import update_ticket

    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if (
        ticket is None
        or ticket.assignee_id is not None
        or ticket.team_id is None
        or ticket.status not in UNSOLVED_STATUSES
        or ticket.merged_into_id is not None
    ):
        return None
    routing = TeamRouting.objects.select_for_update().filter(team_id=ticket.team_id).first()
    chosen_strategy = strategy or (routing.strategy if routing else AssignmentStrategy.MANUAL)
    if chosen_strategy == AssignmentStrategy.MANUAL:
        return None
    member_ids = list(
        User.objects.filter(
            teams__id=ticket.team_id, is_active=True, role__in=ASSIGNING_ROLES
        ).values_list("pk", flat=True)
    )
    # Locked in id order: every worker takes agent locks in the same order.
    members = list(User.objects.select_for_update().filter(pk__in=member_ids).order_by("pk"))
    loads = open_ticket_counts(agent.pk for agent in members)
    online = assignable_agent_ids(members)
    candidates = [
        agent for agent in members if agent.pk in online and loads[agent.pk] < agent.capacity
    ]
    needs = profiles = None
    if chosen_strategy == AssignmentStrategy.SKILLS:
        needs = ticket_needs(ticket)
        profiles = {
            profile.user_id: profile
            for profile in AgentRoutingProfile.objects.filter(user_id__in=member_ids)
        }
    chosen = choose_agent(
        strategy=chosen_strategy,
        candidates=candidates,
        loads=loads,
        last_agent_id=routing.last_assigned_agent_id if routing else None,
        needs=needs,
        profiles=profiles,
        require_skill_match=bool(routing and routing.require_skill_match),
    )
    if chosen is None:
        return None
    update_ticket(actor=None, ticket=ticket, changes={"assignee": chosen}, via=via[:64])
    if routing is not None:
        routing.last_assigned_agent = chosen
        routing.save(update_fields=["last_assigned_agent", "updated_at"])
    return chosen


def drain_team_queue(team_id: int, *, limit: int = DRAIN_BATCH) -> int:
    """Assigns the team's oldest waiting tickets while someone is free; how many were assigned.

    Each ticket is its own transaction, so a long queue never holds locks for long.
    """
    routing = TeamRouting.objects.filter(team_id=team_id).first()
    if routing is None or routing.strategy == AssignmentStrategy.MANUAL:
        return 0
    assigned = 0
    skipped: list[int] = []
    while assigned + len(skipped) < limit:
        ticket_id = (
            waiting_tickets(team_id).exclude(pk__in=skipped).values_list("pk", flat=True).first()
        )
        if ticket_id is None:
            break
        if assign_ticket(ticket_id=ticket_id, via="routing: queue") is not None:
            assigned += 1
        elif routing.strategy == AssignmentStrategy.SKILLS and routing.require_skill_match:
            # This one waits for a skilled agent; a younger ticket may fit someone free.
            skipped.append(ticket_id)
        else:
            break  # nobody is free
    return assigned


def drain_all_queues() -> int:
    """``drain_team_queue`` for every team with automatic assignment; how many were assigned.

    The periodic sweep (``SCHEDULED_JOBS``, ``manage drain_queues``): events drain
    the queues as they happen, this catches what an event missed (a worker
    restart, a capacity raised by hand).
    """
    routed = TeamRouting.objects.exclude(strategy=AssignmentStrategy.MANUAL)
    return sum(drain_team_queue(team_id) for team_id in routed.values_list("team_id", flat=True))


def teams_of_agent(agent_id: int) -> list[int]:
    """The teams with automatic assignment that this agent belongs to."""
    return list(
        TeamRouting.objects.filter(team__members__id=agent_id)
        .exclude(strategy=AssignmentStrategy.MANUAL)
        .values_list("team_id", flat=True)
    )


def queue_summary(team_ids: Iterable[int]) -> dict[int, tuple[int, datetime | None]]:
    """team id -> (waiting tickets, oldest waiting ticket's creation time or None)."""
    summary: dict[int, tuple[int, datetime | None]] = {}
    for team_id in team_ids:
        stats = (
            waiting_tickets(team_id)
            .order_by()
            .aggregate(count=Count("id"), oldest=Min("created_at"))
        )
        summary[team_id] = (stats["count"], stats["oldest"])
    return summary


def agent_is_free(agent: User) -> bool:
    """Online (chosen and connected), active, an assigning role, under capacity."""
    if not (agent.is_active and agent.role in ASSIGNING_ROLES):
        return False
    if agent.pk not in assignable_agent_ids([agent]):
        return False
    return open_ticket_counts([agent.pk])[agent.pk] < agent.capacity
