"""Routing pages and API: what admins and agents see and what bad input gets back."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from concierge.automation.models import AssignmentStrategy, BusinessHours, RoutingRule, TeamRouting
from concierge.tickets.actions import add_entry
from tests.automation.conftest import agents_in, new_ticket, rule
from tests.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def _rule_form(**overrides: str) -> dict[str, str]:
    return {
        "name": "Refunds",
        "events": "ticket_created",
        "conditions": json.dumps(
            {"all": [{"field": "text", "operator": "contains_any", "value": ["refund"]}]}
        ),
        "actions": '[{"type": "add_tags", "tags": ["refund"]}]',
        "is_active": "on",
        **overrides,
    }


def test_admin_creates_a_rule_from_the_form(admin_user):
    client = signed_in_client(admin_user)
    response = client.post(reverse("workspace:settings_routing_new"), _rule_form())
    assert response.status_code == 302
    stored = RoutingRule.objects.get()
    assert stored.actions == [{"type": "add_tags", "tags": ["refund"]}]
    listing = client.get(reverse("workspace:settings_routing")).content.decode()
    assert "Refunds" in listing
    assert "<li>Add tags refund</li>" in listing  # what the action does, not its JSON type
    assert "<code>add_tags</code>" not in listing


def test_bad_json_and_bad_rules_keep_what_was_typed_and_say_where(admin_user):
    client = signed_in_client(admin_user)
    response = client.post(reverse("workspace:settings_routing_new"), _rule_form(actions="[{"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not valid JSON" in page
    assert "contains_any" in page  # the conditions typed are still there
    response = client.post(
        reverse("workspace:settings_routing_new"),
        _rule_form(conditions='{"all": [{"field": "moon", "operator": "is", "value": 1}]}'),
    )
    assert response.status_code == 422
    assert "all.0.field: Unknown field" in response.content.decode()
    assert not RoutingRule.objects.exists()


def test_test_page_shows_what_would_fire(admin_user, billing):
    rule(
        admin_user,
        "Refunds to billing",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["refund"]}]},
        [{"type": "set_team", "team": billing.pk}],
    )
    ticket = new_ticket(body="A refund, please")
    client = signed_in_client(admin_user)
    response = client.get(
        reverse("workspace:settings_routing_test"), {"ticket": ticket.pk, "event": "ticket_created"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "would fire" in page and "Set team to Billing" in page


def test_reorder_and_toggle_from_the_list(admin_user):
    first = rule(admin_user, "First", {"all": []}, [{"type": "stop"}])
    rule(admin_user, "Second", {"all": []}, [{"type": "stop"}])
    client = signed_in_client(admin_user)
    client.post(reverse("workspace:settings_routing_move", args=[first.pk]), {"direction": "down"})
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Second", "First"]
    client.post(reverse("workspace:settings_routing_toggle", args=[first.pk]))
    first.refresh_from_db()
    assert not first.is_active


def test_business_hours_form_reads_intervals_per_day(admin_user):
    client = signed_in_client(admin_user)
    response = client.post(
        reverse("workspace:settings_business_hours_new"),
        {
            "name": "Paris",
            "timezone": "Europe/Paris",
            "mon": "09:00-12:00, 13:00-17:00",
            "holidays": "2026-12-25",
        },
    )
    assert response.status_code == 302
    hours = BusinessHours.objects.get()
    assert hours.schedule == {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}
    assert hours.holidays == ["2026-12-25"]
    response = client.post(
        reverse("workspace:settings_business_hours_new"),
        {"name": "Bad", "timezone": "UTC", "tue": "9am-5pm"},
    )
    assert response.status_code == 422
    assert "tue: bad interval" in response.content.decode()


def test_assignment_settings_and_queue_page(admin_user, agent_user, billing):
    agents_in(billing, 1)
    client = signed_in_client(admin_user)
    response = client.post(
        reverse("workspace:settings_assignment_team", args=[billing.pk]),
        {
            f"team-{billing.pk}-strategy": "least_open",
            f"team-{billing.pk}-require_skill_match": "on",
        },
    )
    assert response.status_code == 302
    routing = TeamRouting.objects.get(team=billing)
    assert (routing.strategy, routing.require_skill_match) == (AssignmentStrategy.LEAST_OPEN, True)
    new_ticket(team=billing)
    page = signed_in_client(agent_user).get(reverse("workspace:queues")).content.decode()
    assert "Billing" in page and "Least open tickets" in page


def test_hidden_message_shows_behind_a_warning_on_the_ticket_page(admin_user, agent_user):
    rule(
        admin_user,
        "Abuse",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["idiots"]}]},
        [{"type": "hide_content", "reason": "Abusive language"}],
        events=["customer_reply"],
    )
    ticket = new_ticket(body="Hello")
    reply = add_entry(
        actor=None, ticket=ticket, body="You idiots!", author_customer=ticket.requester
    )
    from concierge.automation.actions import process_ticket_event

    process_ticket_event(ticket_id=ticket.pk, event="customer_reply", entry_id=reply.pk)
    page = (
        signed_in_client(agent_user)
        .get(reverse("workspace:ticket", args=[ticket.pk]))
        .content.decode()
    )
    assert '<details class="content-warning">' in page
    assert "Abusive language" in page and "show anyway" in page


# --- API ------------------------------------------------------------------------------------


def test_api_rules_with_a_token(admin_user, billing):
    from django.test import Client

    from concierge.accounts.actions import create_api_token

    _, secret = create_api_token(actor=admin_user, name="test")
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    bad = client.post(
        "/api/v1/routing/rules",
        {
            "name": "X",
            "events": ["ticket_created"],
            "actions": [{"type": "set_priority", "priority": "asap"}],
        },
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert bad.json()["field_errors"] == {
        "actions.0.priority": ["Use one of: low, normal, high, urgent."]
    }
    created = client.post(
        "/api/v1/routing/rules",
        {
            "name": "Billing",
            "events": ["ticket_created"],
            "conditions": {"all": []},
            "actions": [{"type": "set_team", "team": billing.pk}],
        },
        content_type="application/json",
    )
    assert created.status_code == 201
    ticket = new_ticket()
    preview = client.post(
        "/api/v1/routing/rules/test", {"ticket_id": ticket.pk}, content_type="application/json"
    )
    assert preview.status_code == 200
    assert preview.json()["previews"][0]["would_fire"] is True
    queues = client.get("/api/v1/routing/queues").json()
    assert [q["team_name"] for q in queues] == ["Billing"]


@pytest.mark.parametrize("count", [2, 12])
def test_rule_list_names_teams_and_agents_without_a_query_per_rule(
    admin_user, count, django_assert_max_num_queries
):
    from tests.automation.conftest import rule
    from tests.factories import TeamFactory, make_agent

    for index in range(count):
        team = TeamFactory(name=f"Team {index}")
        agent = make_agent(email=f"agent{index}@concierge.test", name=f"Agent {index}")
        actions = [{"type": "set_team", "team": team.pk}, {"type": "assign", "agent": agent.pk}]
        rule(admin_user, f"Rule {index}", {"all": []}, actions)
    client = signed_in_client(admin_user)
    client.get(reverse("workspace:settings_routing"))  # warm the session

    with django_assert_max_num_queries(12):
        listing = client.get(reverse("workspace:settings_routing")).content.decode()

    assert f"<li>Set team to Team {count - 1}</li>" in listing
    assert f"<li>Assign to Agent {count - 1}</li>" in listing
