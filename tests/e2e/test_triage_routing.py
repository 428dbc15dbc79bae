"""A customer's angry request is triaged, routed by a rule and assigned; an agent corrects it."""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from playwright.sync_api import expect

from concierge.accounts.models import Availability
from concierge.ai.actions import save_category
from concierge.ai.models import Prediction
from concierge.automation.actions import save_rule, save_team_routing
from concierge.automation.models import AssignmentStrategy, PipelineRun
from concierge.core.models import AgentPresence
from concierge.demo.routing import CATEGORIES
from concierge.tickets.models import AuditEvent, Ticket
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent, sign_in_customer
from tests.factories import TeamFactory, make_agent, make_customer_user

ANGRY_DOUBLE_CHARGE = (
    "This is ridiculous. You charged my card TWICE for the same order and I want my money "
    "back right now. Worst service ever!"
)


def test_angry_double_charge_is_triaged_routed_to_billing_assigned_and_corrected(
    new_page: Any, watch: PageWatch, admin_user: Any, password: str, enable_triage: None
) -> None:
    # The desk: three categories, a billing team whose only free agent is Bea, and a rule.
    for name, (description, examples) in CATEGORIES.items():
        save_category(
            actor=admin_user, name=name, description=description, examples="\n".join(examples)
        )
    billing = TeamFactory(name="Billing")
    technical = TeamFactory(name="Technical")
    bea = make_agent(email="bea@concierge.test", name="Bea Billing")
    away = make_agent(email="otto@concierge.test", name="Otto Away", availability=Availability.AWAY)
    full = make_agent(email="fay@concierge.test", name="Fay Full", capacity=0)
    tech = make_agent(email="tim@concierge.test", name="Tim Tech")
    billing.members.add(bea, away, full)
    technical.members.add(tech)
    save_team_routing(actor=admin_user, team=billing, strategy=AssignmentStrategy.LEAST_OPEN)
    save_rule(
        actor=admin_user,
        name="Billing requests to Billing",
        events=["ticket_created"],
        conditions={
            "all": [
                {"field": "intent", "operator": "is", "value": "billing", "min_confidence": 0.5}
            ]
        },
        actions=[{"type": "set_team", "team": billing.pk}],
    )
    customer = make_customer_user(name="Carla Customer", email="carla@customers.test")
    # Assignment counts agents whose workspace is connected. This test server speaks no
    # WebSocket, so the heartbeat their open tabs would send is recorded here.
    now = timezone.now()
    for agent in (bea, away, full, tech):
        AgentPresence.objects.create(user=agent, last_seen_at=now, last_active_at=now)

    # The customer writes in the portal.
    customer_page = new_page()
    sign_in_customer(customer_page, customer.email, password)
    customer_page.get_by_role("navigation", name="Portal").get_by_role(
        "link", name="New request"
    ).click()
    customer_page.get_by_label("Subject").fill("Charged twice?!")
    customer_page.get_by_label("Description").fill(ANGRY_DOUBLE_CHARGE)
    customer_page.get_by_role("button", name="Send request").click()
    customer_page.wait_for_url(re.compile(r"/portal/requests/\d+/$"))

    # After the commit the pipeline ran: triage, the rule, the team's assignment.
    ticket = Ticket.objects.get(subject="Charged twice?!")
    predictions = {p.kind: p for p in Prediction.objects.filter(ticket=ticket)}
    assert predictions["intent"].label == "billing"
    assert predictions["sentiment"].label == "negative"
    assert ticket.team == billing
    assert ticket.assignee == bea  # online with room; Otto is away, Fay is at capacity
    assert AuditEvent.objects.filter(
        ticket=ticket, field="team", via="rule: Billing requests to Billing"
    ).exists()
    assert PipelineRun.objects.get(ticket=ticket).assigned_to == bea

    # Bea opens the ticket, sees the triage and corrects the category in one click.
    agent_page = new_page()
    sign_in_agent(agent_page, bea.email, password)
    agent_page.goto(f"/tickets/{ticket.pk}/")
    intent_row = agent_page.locator("#triage-panel .triage-row--intent")
    expect(intent_row.locator(".triage-label")).to_have_text("billing")
    expect(agent_page.locator("#timeline")).to_contain_text("via rule: Billing requests to Billing")
    # Say Bea finds it is really about a duplicated order shipment: she picks "shipping".
    intent_row.get_by_role("button", name="shipping", exact=True).click()
    expect(agent_page.locator("#triage-panel .triage-row--intent .triage-label")).to_have_text(
        "shipping"
    )

    correction = Prediction.objects.get(pk=predictions["intent"].pk)
    assert (correction.label, correction.corrected_label) == ("billing", "shipping")
    assert correction.corrected_by == bea
    assert correction.text  # the classified text is kept with it: a training label
    assert_clean(watch)
