"""The demo's routing set-up, and the issue's scenario end to end with the real triage models."""

from __future__ import annotations

import pytest

from concierge.accounts.models import Availability, Team
from concierge.automation.actions import process_ticket_event
from concierge.automation.models import (
    AgentRoutingProfile,
    AssignmentStrategy,
    RoutingRule,
    TeamRouting,
)
from concierge.demo import content, generator
from concierge.demo.routing import ensure_demo_routing
from concierge.tickets.models import AuditEvent, Priority
from tests.automation.conftest import connect, new_ticket
from tests.factories import make_admin, make_agent

pytestmark = pytest.mark.django_db

ANGRY_DOUBLE_CHARGE = (
    "This is ridiculous. You charged my card twice for the same order and I want my "
    "money back right now. Terrible service!"
)


def _demo_desk() -> dict[str, Team]:
    make_admin(email=generator.ADMIN_EMAIL, name="Ada Okafor")
    return {key: Team.objects.create(name=name) for key, name in content.TEAM_NAMES.items()}


def test_demo_routing_sets_up_rules_strategies_and_skills_once():
    teams = _demo_desk()
    tomas = make_agent(email=f"tomas@{generator.DEMO_DOMAIN}")
    ensure_demo_routing()
    summary = ensure_demo_routing()  # a second run adds nothing
    assert "(0 new)" in summary
    assert RoutingRule.objects.count() == 7
    assert TeamRouting.objects.get(team=teams["billing"]).strategy == AssignmentStrategy.SKILLS
    assert AgentRoutingProfile.objects.get(user=tomas).languages == ["en", "de", "es"]


def test_angry_double_charge_is_classified_routed_to_billing_and_assigned(enable_triage):
    teams = _demo_desk()
    ensure_demo_routing()
    billing = teams["billing"]
    offline_agent = make_agent(email="off@concierge.test", availability=Availability.OFFLINE)
    full_agent = make_agent(email="full@concierge.test", capacity=0)
    free_agent = make_agent(email="free@concierge.test")
    billing.members.add(offline_agent, full_agent, free_agent)
    for agent in (offline_agent, full_agent, free_agent):
        connect(agent)  # their workspaces are open

    ticket = new_ticket(subject="Charged TWICE?!", body=ANGRY_DOUBLE_CHARGE)
    run = process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    from concierge.ai.services import effective_labels

    labels = effective_labels(ticket.pk)
    assert labels["intent"][0] == "billing"
    assert labels["sentiment"][0] == "negative"
    ticket.refresh_from_db()
    assert ticket.team == billing
    assert ticket.assignee == free_agent
    assert ticket.priority == Priority.HIGH
    assert run is not None and "Billing requests to Billing" in [r["name"] for r in run.fired_rules]
    assert AuditEvent.objects.filter(
        ticket=ticket, field="team", via="rule: Billing requests to Billing"
    ).exists()
