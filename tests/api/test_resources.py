"""Customers, organizations, agents, teams, tags, custom fields and saved views."""

from __future__ import annotations

import pytest

from concierge.accounts.models import Role, Team, User
from concierge.customers.models import Customer, Organization
from concierge.tickets.models import CustomField, SavedView
from tests.api.helpers import api_client
from tests.factories import (
    CustomerFactory,
    CustomFieldFactory,
    OrganizationFactory,
    TeamFactory,
    TicketFactory,
)

pytestmark = pytest.mark.django_db


# --- customers -------------------------------------------------------------------


def test_agent_creates_searches_and_updates_a_customer(agent_user):
    organization = OrganizationFactory()
    client = api_client(agent_user)

    created = client.post(
        "/api/v1/customers",
        {"name": "Dana Doe", "email": "Dana@Example.com", "organization_id": organization.pk},
        content_type="application/json",
    )
    assert created.status_code == 201
    customer_id = created.json()["id"]
    assert created.json()["email"] == "dana@example.com"

    found = client.get("/api/v1/customers?q=dana@").json()
    assert [row["id"] for row in found["items"]] == [customer_id]

    updated = client.patch(
        f"/api/v1/customers/{customer_id}",
        {"name": "Dana D.", "organization_id": None},
        content_type="application/json",
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Dana D."
    assert updated.json()["organization"] is None


def test_customer_list_pages_by_offset(agent_user):
    for index in range(5):
        CustomerFactory(name=f"Person {index}")
    client = api_client(agent_user)

    first = client.get("/api/v1/customers?limit=3").json()
    second = client.get(f"/api/v1/customers?limit=3&offset={first['next_offset']}").json()

    assert len(first["items"]) == 3
    assert len(second["items"]) == 2 and second["next_offset"] is None


def test_customer_reads_own_record_without_internal_notes(customer_user):
    customer = customer_user.customer
    customer.notes = "Shouts a lot"
    customer.save()
    client = api_client(customer_user)

    own = client.get(f"/api/v1/customers/{customer.pk}")

    assert own.status_code == 200
    assert own.json()["notes"] == ""
    assert client.get(f"/api/v1/customers/{CustomerFactory().pk}").status_code == 404
    assert client.get("/api/v1/customers").status_code == 403


def test_merge_customer_moves_tickets(agent_user):
    target = CustomerFactory()
    source = CustomerFactory()
    ticket = TicketFactory(requester=source)

    response = api_client(agent_user).post(
        f"/api/v1/customers/{target.pk}/merge",
        {"source_id": source.pk},
        content_type="application/json",
    )

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.requester_id == target.pk
    assert Customer.objects.get(pk=source.pk).merged_into_id == target.pk


def test_light_agent_cannot_create_customers(light_agent_user):
    response = api_client(light_agent_user).post(
        "/api/v1/customers", {"name": "X"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert not Customer.objects.exists()


# --- organizations ------------------------------------------------------------


def test_agent_creates_organization_but_not_visibility(agent_user):
    client = api_client(agent_user)

    created = client.post(
        "/api/v1/organizations",
        {"name": "Acme", "domains": ["ACME.example"]},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["domains"] == ["acme.example"]

    denied = client.patch(
        f"/api/v1/organizations/{created.json()['id']}",
        {"members_see_all_requests": True, "notes": "changed"},
        content_type="application/json",
    )
    assert denied.status_code == 403
    organization = Organization.objects.get()
    assert organization.members_see_all_requests is False
    assert organization.notes == ""


def test_admin_opens_organization_requests_to_members(admin_user):
    organization = OrganizationFactory()

    response = api_client(admin_user).patch(
        f"/api/v1/organizations/{organization.pk}",
        {"members_see_all_requests": True},
        content_type="application/json",
    )

    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.members_see_all_requests is True


def test_duplicate_organization_name_is_409(agent_user):
    OrganizationFactory(name="Acme")

    response = api_client(agent_user).post(
        "/api/v1/organizations", {"name": "acme"}, content_type="application/json"
    )

    assert response.status_code == 409
    assert response.json()["field_errors"] == {"name": ["Already in use."]}


def test_organization_list_counts_customers(agent_user):
    organization = OrganizationFactory()
    CustomerFactory(organization=organization)

    items = api_client(agent_user).get("/api/v1/organizations").json()["items"]

    assert [(row["id"], row["customer_count"]) for row in items] == [(organization.pk, 1)]


# --- agents and teams --------------------------------------------------------


def test_admin_creates_agent_and_changes_role(admin_user):
    client = api_client(admin_user)

    created = client.post(
        "/api/v1/agents",
        {"email": "new@concierge.test", "name": "New Agent", "role": "agent"},
        content_type="application/json",
    )
    assert created.status_code == 201
    agent_id = created.json()["id"]

    updated = client.patch(
        f"/api/v1/agents/{agent_id}",
        {"role": "light_agent", "capacity": 5},
        content_type="application/json",
    )
    assert updated.status_code == 200
    assert (updated.json()["role"], updated.json()["capacity"]) == ("light_agent", 5)


def test_agent_cannot_change_another_agents_role(agent_user, light_agent_user):
    response = api_client(agent_user).patch(
        f"/api/v1/agents/{light_agent_user.pk}", {"role": "admin"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert User.objects.get(pk=light_agent_user.pk).role == Role.LIGHT_AGENT


def test_agents_list_shows_staff_only(agent_user, customer_user):
    ids = {row["id"] for row in api_client(agent_user).get("/api/v1/agents").json()}

    assert agent_user.pk in ids and customer_user.pk not in ids


def test_admin_creates_and_renames_a_team(admin_user, agent_user):
    client = api_client(admin_user)

    created = client.post(
        "/api/v1/teams",
        {"name": "Billing", "member_ids": [agent_user.pk]},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["members"] == [{"id": agent_user.pk, "name": agent_user.name}]

    renamed = client.patch(
        f"/api/v1/teams/{created.json()['id']}",
        {"name": "Payments"},
        content_type="application/json",
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Payments"
    assert renamed.json()["members"] == created.json()["members"]


def test_agent_cannot_create_a_team(agent_user):
    response = api_client(agent_user).post(
        "/api/v1/teams", {"name": "Rogue"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert not Team.objects.exists()


def test_team_list(agent_user):
    team = TeamFactory()

    assert [row["id"] for row in api_client(agent_user).get("/api/v1/teams").json()] == [team.pk]


# --- tags, custom fields, views ----------------------------------------------------


def test_tags_list_with_ticket_counts(agent_user):
    first, second = TicketFactory(), TicketFactory()
    vip = first.tags.create(name="vip")
    second.tags.add(vip)
    first.tags.create(name="late")

    rows = api_client(agent_user).get("/api/v1/tags").json()

    assert rows == [{"name": "late", "ticket_count": 1}, {"name": "vip", "ticket_count": 2}]


def test_admin_creates_and_updates_a_custom_field(admin_user):
    client = api_client(admin_user)

    created = client.post(
        "/api/v1/custom-fields",
        {"key": "plan", "label": "Plan", "field_type": "dropdown", "choices": ["free", "pro"]},
        content_type="application/json",
    )
    assert created.status_code == 201

    updated = client.patch(
        f"/api/v1/custom-fields/{created.json()['id']}",
        {"label": "Pricing plan", "is_customer_visible": True},
        content_type="application/json",
    )
    assert updated.status_code == 200
    field = CustomField.objects.get()
    assert (field.label, field.is_customer_visible, field.choices) == (
        "Pricing plan",
        True,
        ["free", "pro"],
    )


def test_agent_lists_but_cannot_create_custom_fields(agent_user):
    CustomFieldFactory(key="order")
    client = api_client(agent_user)

    assert [row["key"] for row in client.get("/api/v1/custom-fields").json()] == ["order"]
    denied = client.post(
        "/api/v1/custom-fields",
        {"key": "x", "label": "X", "field_type": "text"},
        content_type="application/json",
    )
    assert denied.status_code == 403
    assert CustomField.objects.count() == 1


def test_views_list_own_and_shared_but_not_others(agent_user):
    shared = SavedView.objects.create(name="Shared", owner=None)
    own = SavedView.objects.create(name="Mine", owner=agent_user)
    other_owner = User.objects.create_user("other@concierge.test", name="Other", role=Role.AGENT)
    SavedView.objects.create(name="Theirs", owner=other_owner)

    rows = api_client(agent_user).get("/api/v1/views").json()

    assert {row["id"] for row in rows} >= {shared.pk, own.pk}
    assert "Theirs" not in {row["name"] for row in rows}


def test_admin_manages_shared_views_and_agents_cannot(admin_user, agent_user):
    admin = api_client(admin_user)
    created = admin.post(
        "/api/v1/views",
        {"name": "Urgent", "filters": {"priority": ["urgent"]}},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["is_shared"] is True
    view_id = created.json()["id"]

    denied = api_client(agent_user).delete(f"/api/v1/views/{view_id}")
    assert denied.status_code == 403
    assert SavedView.objects.filter(pk=view_id).exists()

    renamed = admin.patch(
        f"/api/v1/views/{view_id}", {"name": "Very urgent"}, content_type="application/json"
    )
    assert renamed.json()["name"] == "Very urgent"
    assert renamed.json()["filters"] == {"priority": ["urgent"]}
    assert admin.delete(f"/api/v1/views/{view_id}").status_code == 204
    assert not SavedView.objects.filter(pk=view_id).exists()
