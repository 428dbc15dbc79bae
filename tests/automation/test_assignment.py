"""Assignment strategies: fairness, load, skills, availability and capacity, the queue."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from concierge.accounts.actions import update_agent
from concierge.accounts.models import Availability, User
from concierge.automation.actions import (
    process_ticket_event,
    save_agent_profile,
    save_team_routing,
)
from concierge.automation.assignment import assign_ticket, drain_team_queue, open_ticket_counts
from concierge.automation.models import AssignmentStrategy, TeamRouting
from concierge.automation.services import team_queues
from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.core.models import AgentPresence
from concierge.realtime.agent import record_agent_heartbeat
from concierge.tickets.actions import update_ticket
from concierge.tickets.models import AuditEvent, Status, Ticket
from tests.automation.conftest import agents_in, disconnect, new_ticket, offline, set_strategy
from tests.factories import make_light_agent

pytestmark = pytest.mark.django_db


def _assign_new(team, count: int) -> list[User | None]:
    assigned = []
    for _ in range(count):
        ticket = new_ticket(team=team)
        assigned.append(assign_ticket(ticket_id=ticket.pk))
    return assigned


def test_round_robin_takes_turns_fairly(admin_user, billing):
    agents = agents_in(billing, 3)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    assigned = _assign_new(billing, 7)
    assert assigned[:3] == agents  # in turn, by id
    assert Counter(agent.pk for agent in assigned if agent) == {
        agents[0].pk: 3, agents[1].pk: 2, agents[2].pk: 2,
    }  # fmt: skip


def test_round_robin_skips_unavailable_agents_and_keeps_the_turn(admin_user, billing):
    first, second, third = agents_in(billing, 3)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    offline(second)
    assert _assign_new(billing, 3) == [first, third, first]


def test_least_open_picks_the_lightest_load(admin_user, billing):
    busy, light = agents_in(billing, 2)
    for _ in range(3):
        update_ticket(actor=None, ticket=new_ticket(team=billing), changes={"assignee": busy})
    set_strategy(admin_user, billing, AssignmentStrategy.LEAST_OPEN)
    assert _assign_new(billing, 3) == [light, light, light]
    # Now 3 each: the turn decides, then loads stay level.
    assert sorted(a.pk for a in _assign_new(billing, 2)) == sorted([busy.pk, light.pk])


def test_pending_and_solved_tickets_do_not_count_against_capacity(admin_user, billing):
    (agent,) = agents_in(billing, 1, capacity=1)
    set_strategy(admin_user, billing, AssignmentStrategy.LEAST_OPEN)
    ticket = new_ticket(team=billing)
    assert assign_ticket(ticket_id=ticket.pk) == agent
    assert open_ticket_counts([agent.pk]) == {agent.pk: 1}
    update_ticket(actor=None, ticket=ticket, changes={"status": Status.PENDING})
    assert open_ticket_counts([agent.pk]) == {agent.pk: 0}


def test_capacity_and_availability_are_respected(admin_user, billing):
    full, away, free = agents_in(billing, 3, capacity=1)
    User.objects.filter(pk=away.pk).update(availability=Availability.AWAY)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    update_ticket(actor=None, ticket=new_ticket(team=billing), changes={"assignee": full})
    assert _assign_new(billing, 2) == [free, None]  # then nobody is free: it waits


def test_light_agents_and_inactive_agents_are_never_assigned(admin_user, billing):
    light = make_light_agent(email="lee@concierge.test")
    billing.members.add(light)
    (gone,) = agents_in(billing, 1)
    User.objects.filter(pk=gone.pk).update(is_active=False)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    assert _assign_new(billing, 1) == [None]


def test_manual_team_never_assigns(admin_user, billing):
    agents_in(billing, 1)
    assert _assign_new(billing, 1) == [None]
    set_strategy(admin_user, billing, AssignmentStrategy.MANUAL)
    assert _assign_new(billing, 1) == [None]


def test_skills_match_intent_tags_and_language(admin_user, billing):
    generalist, refunds, french = agents_in(billing, 3)
    save_agent_profile(actor=admin_user, agent=refunds, skills="refunds, billing", languages=["en"])
    save_agent_profile(actor=admin_user, agent=french, skills=[], languages="fr, en")
    set_strategy(admin_user, billing, AssignmentStrategy.SKILLS)
    tagged = new_ticket(team=billing, tags=["refunds"])
    assert assign_ticket(ticket_id=tagged.pk) == refunds
    plain = new_ticket(team=billing)
    # No needs: the lightest load, then the turn (after the agent assigned last).
    assert assign_ticket(ticket_id=plain.pk) == french
    assert assign_ticket(ticket_id=new_ticket(team=billing).pk) == generalist


def test_skills_use_the_predicted_intent_and_language(admin_user, billing):
    from concierge.ai.models import Prediction

    english, billing_expert, french = agents_in(billing, 3)
    save_agent_profile(actor=admin_user, agent=billing_expert, skills=["billing"], languages=["en"])
    save_agent_profile(actor=admin_user, agent=french, skills=[], languages=["fr"])
    set_strategy(admin_user, billing, AssignmentStrategy.SKILLS)
    ticket = new_ticket(team=billing)
    Prediction.objects.create(
        ticket=ticket, kind="intent", label="Billing", confidence=0.9, model_version="t"
    )
    assert assign_ticket(ticket_id=ticket.pk) == billing_expert
    french_ticket = new_ticket(team=billing)
    Prediction.objects.create(
        ticket=french_ticket, kind="language", label="fr", confidence=0.99, model_version="t"
    )
    assert assign_ticket(ticket_id=french_ticket.pk) == french


def test_strict_skills_wait_for_a_skilled_agent(admin_user, billing):
    anyone, expert = agents_in(billing, 2)
    save_agent_profile(actor=admin_user, agent=expert, skills=["refunds"], languages=[])
    set_strategy(admin_user, billing, AssignmentStrategy.SKILLS, require_skill_match=True)
    offline(expert)
    ticket = new_ticket(team=billing, tags=["refunds"])
    assert assign_ticket(ticket_id=ticket.pk) is None
    untagged = new_ticket(team=billing)
    assert assign_ticket(ticket_id=untagged.pk) == anyone


def test_queue_drains_when_an_agent_comes_online(
    admin_user, billing, django_capture_on_commit_callbacks
):
    (agent,) = agents_in(billing, 1, capacity=2)
    offline(agent)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    waiting = [new_ticket(team=billing) for _ in range(3)]
    for ticket in waiting:
        assert assign_ticket(ticket_id=ticket.pk) is None
    (queue,) = [q for q in team_queues(user=agent) if q.team == billing]
    assert queue.waiting == 3 and queue.oldest_waiting_since == waiting[0].created_at

    agent.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        update_agent(actor=agent, agent=agent, changes={"availability": Availability.ONLINE})
    # The two oldest, up to capacity; the youngest keeps waiting.
    assert [Ticket.objects.get(pk=t.pk).assignee_id for t in waiting] == [agent.pk, agent.pk, None]


def test_queue_drains_when_an_agent_solves_a_ticket(
    admin_user, billing, django_capture_on_commit_callbacks
):
    (agent,) = agents_in(billing, 1, capacity=1)
    set_strategy(admin_user, billing, AssignmentStrategy.LEAST_OPEN)
    working, waiting = new_ticket(team=billing), new_ticket(team=billing)
    assert assign_ticket(ticket_id=working.pk) == agent
    assert assign_ticket(ticket_id=waiting.pk) is None
    with django_capture_on_commit_callbacks(execute=True):
        update_ticket(actor=agent, ticket=working, changes={"status": Status.SOLVED})
    assert Ticket.objects.get(pk=waiting.pk).assignee == agent
    assert AuditEvent.objects.filter(
        ticket=waiting, field="assignee", via="routing: queue"
    ).exists()


def test_queue_drains_when_an_agent_releases_a_ticket(
    admin_user, billing, django_capture_on_commit_callbacks
):
    (agent,) = agents_in(billing, 1, capacity=1)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    older, younger = new_ticket(team=billing), new_ticket(team=billing)
    update_ticket(actor=None, ticket=younger, changes={"assignee": agent})
    with django_capture_on_commit_callbacks(execute=True):
        update_ticket(actor=agent, ticket=younger, changes={"assignee": None, "team": None})
    # The released slot goes to the oldest waiting ticket.
    assert Ticket.objects.get(pk=older.pk).assignee == agent


def test_turning_a_strategy_on_drains_the_existing_queue(
    admin_user, billing, django_capture_on_commit_callbacks
):
    agents_in(billing, 2)
    waiting = [new_ticket(team=billing) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        save_team_routing(actor=admin_user, team=billing, strategy=AssignmentStrategy.ROUND_ROBIN)
    assert all(Ticket.objects.get(pk=t.pk).assignee_id for t in waiting)


def test_drain_stops_when_nobody_is_free(admin_user, billing):
    agents_in(billing, 1, capacity=2)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    for _ in range(5):
        new_ticket(team=billing)
    assert drain_team_queue(billing.pk) == 2


def test_pipeline_assigns_after_rules(admin_user, billing):
    (agent,) = agents_in(billing, 1)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    from tests.automation.conftest import rule

    rule(admin_user, "To billing", {"all": []}, [{"type": "set_team", "team": billing.pk}])
    ticket = new_ticket()
    run = process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    assert run is not None and run.assigned_to == agent
    assert Ticket.objects.get(pk=ticket.pk).assignee == agent


def test_team_routing_settings_are_admin_only_and_validated(agent_user, admin_user, billing):
    with pytest.raises(PermissionDenied):
        save_team_routing(actor=agent_user, team=billing, strategy=AssignmentStrategy.ROUND_ROBIN)
    with pytest.raises(ValidationFailed):
        save_team_routing(actor=admin_user, team=billing, strategy="lottery")
    with pytest.raises(ValidationFailed):
        save_agent_profile(actor=admin_user, agent=agent_user, skills=["<script>"], languages=[])
    assert not TeamRouting.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not settings.IS_POSTGRES, reason="row locks need PostgreSQL (SQLite serialises writers)"
)
def test_concurrent_assignments_never_exceed_capacity(admin_user, billing, monkeypatch):
    """Eight workers assign eight tickets at once to a team whose agents have room for three.

    Each worker pauses after reading the agents' loads (a slow worker), which
    widens the window in which an unlocked implementation would over-assign.
    """
    import time

    from concierge.automation import assignment

    read_loads = assignment.open_ticket_counts

    def slow_read(agent_ids):  # type: ignore[no-untyped-def]
        loads = read_loads(agent_ids)
        time.sleep(0.05)
        return loads

    monkeypatch.setattr(assignment, "open_ticket_counts", slow_read)
    first, second = agents_in(billing, 2)
    User.objects.filter(pk=first.pk).update(capacity=2)
    User.objects.filter(pk=second.pk).update(capacity=1)
    # Tickets first, then the strategy, written directly: in this committing test
    # the pipeline (or the action's queue drain) would otherwise assign them one by one.
    tickets = [new_ticket(team=billing) for _ in range(8)]
    TeamRouting.objects.create(team=billing, strategy=AssignmentStrategy.LEAST_OPEN)
    assert Ticket.objects.filter(team=billing, assignee__isnull=False).count() == 0
    barrier = threading.Barrier(len(tickets))
    errors: list[BaseException] = []

    def work(ticket_id: int) -> None:
        try:
            connection.ensure_connection()  # connect first, so the workers start together
            barrier.wait()
            assign_ticket(ticket_id=ticket_id)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(t.pk,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    loads = open_ticket_counts([first.pk, second.pk])
    assert loads == {first.pk: 2, second.pk: 1}
    assert Ticket.objects.filter(team=billing, assignee__isnull=True).count() == 5


def test_drain_queues_command_assigns_waiting_tickets(admin_user, billing):
    from io import StringIO

    from django.core.management import call_command

    (agent,) = agents_in(billing, 1)
    waiting = new_ticket(team=billing)
    TeamRouting.objects.create(team=billing, strategy=AssignmentStrategy.ROUND_ROBIN)
    out = StringIO()
    call_command("drain_queues", stdout=out)
    assert out.getvalue() == "Billing: 1 assigned\n"
    assert Ticket.objects.get(pk=waiting.pk).assignee == agent


# --- presence: "online" for assignment means chosen online AND a connected workspace ----------


def test_an_agent_online_by_choice_whose_workspace_is_closed_gets_no_tickets(admin_user, billing):
    at_desk, closed_laptop = agents_in(billing, 2)
    disconnect(closed_laptop)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)

    assert _assign_new(billing, 3) == [at_desk, at_desk, at_desk]
    assert closed_laptop.availability == Availability.ONLINE  # their choice is untouched


def test_an_agent_who_never_opened_the_workspace_is_not_online_for_assignment(admin_user, billing):
    agents_in(billing, 1, connected=False)
    set_strategy(admin_user, billing, AssignmentStrategy.LEAST_OPEN)

    assert _assign_new(billing, 1) == [None]


def test_a_connected_agent_who_chose_away_or_offline_gets_no_tickets(admin_user, billing):
    away, gone = agents_in(billing, 2)
    User.objects.filter(pk=away.pk).update(availability=Availability.AWAY)
    User.objects.filter(pk=gone.pk).update(availability=Availability.OFFLINE)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)

    assert _assign_new(billing, 1) == [None]


def test_an_idle_but_connected_agent_still_takes_tickets(admin_user, billing):
    (reader,) = agents_in(billing, 1)
    # Presence shows "away" after quiet minutes (reading a long ticket); the tab is open.
    AgentPresence.objects.filter(user=reader).update(
        last_active_at=timezone.now() - timedelta(hours=1)
    )
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)

    assert _assign_new(billing, 1) == [reader]


def test_queue_drains_when_the_agents_workspace_connects(
    admin_user, billing, django_capture_on_commit_callbacks
):
    (agent,) = agents_in(billing, 1, connected=False, capacity=2)
    set_strategy(admin_user, billing, AssignmentStrategy.ROUND_ROBIN)
    waiting = [new_ticket(team=billing) for _ in range(3)]
    for ticket in waiting:
        assert assign_ticket(ticket_id=ticket.pk) is None

    with django_capture_on_commit_callbacks(execute=True):
        record_agent_heartbeat(user_id=agent.pk, active=True)  # what /ws/agent/ does on connect

    assert [Ticket.objects.get(pk=t.pk).assignee_id for t in waiting] == [agent.pk, agent.pk, None]


def test_later_heartbeats_of_a_connected_agent_do_not_drain_queues_again(
    admin_user, billing, django_capture_on_commit_callbacks
):
    (agent,) = agents_in(billing, 1)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record_agent_heartbeat(user_id=agent.pk)

    assert callbacks == []
