"""Fixtures for routing tests: a billing team with online agents, and rule helpers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from concierge.accounts.models import Availability, Team, User
from concierge.automation.actions import save_rule, save_team_routing
from concierge.automation.models import RoutingRule
from concierge.core import presence
from concierge.core.models import AgentPresence
from concierge.tickets.actions import create_ticket
from concierge.tickets.models import Ticket
from tests.factories import CustomerFactory, TeamFactory, make_agent


@pytest.fixture
def billing(db: None) -> Team:
    return TeamFactory(name="Billing")  # type: ignore[return-value]


def agents_in(team: Team, count: int, *, connected: bool = True, **fields: Any) -> list[User]:
    """Team members; ``connected`` ones have a workspace tab open (a fresh heartbeat)."""
    agents = [
        make_agent(
            email=f"{team.name.lower()}{i}@concierge.test", name=f"{team.name} agent {i}", **fields
        )
        for i in range(count)
    ]
    team.members.add(*agents)
    if connected:
        for agent in agents:
            connect(agent)
    return agents


def connect(agent: User) -> None:
    """The agent's workspace is open: what the agent socket records on every heartbeat."""
    presence.record_heartbeat(user_id=agent.pk, active=True)


def disconnect(agent: User) -> None:
    """The agent's last tab went quiet longer than the presence grace period."""
    AgentPresence.objects.filter(user_id=agent.pk).update(
        last_seen_at=timezone.now() - presence.offline_after() - timedelta(seconds=1)
    )


def set_strategy(admin: User, team: Team, strategy: str, **options: Any) -> None:
    save_team_routing(actor=admin, team=team, strategy=strategy, **options)


def new_ticket(subject: str = "Help", body: str = "Please help me.", **fields: Any) -> Ticket:
    """A portal ticket opened by the system (the pipeline runs only when a test runs it)."""
    requester = fields.pop("requester", None) or CustomerFactory()
    return create_ticket(actor=None, requester=requester, subject=subject, body=body, **fields)


def rule(admin: User, name: str, conditions: Any, actions: Any, **fields: Any) -> RoutingRule:
    return save_rule(
        actor=admin,
        name=name,
        events=fields.pop("events", ["ticket_created"]),
        conditions=conditions,
        actions=actions,
        **fields,
    )


def offline(agent: User) -> None:
    User.objects.filter(pk=agent.pk).update(availability=Availability.OFFLINE)
