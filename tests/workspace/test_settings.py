"""Desk settings (admins only): agents, teams, custom fields, shared views, organizations."""

from __future__ import annotations

import pytest
from django.core import mail

from concierge.accounts.models import Role, Team, User
from concierge.tickets.models import CustomField, SavedView, Status
from tests.conftest import signed_in_client
from tests.factories import (
    CustomFieldFactory,
    OrganizationFactory,
    TeamFactory,
    TicketFactory,
    make_agent,
)

pytestmark = pytest.mark.django_db

SETTINGS_PAGES = [
    "/settings/agents/",
    "/settings/teams/",
    "/settings/fields/",
    "/settings/fields/new/",
    "/settings/views/",
    "/settings/views/new/",
    "/settings/organizations/",
]


@pytest.mark.parametrize("url", SETTINGS_PAGES)
def test_settings_pages_open_for_admins(admin_user, url):
    assert signed_in_client(admin_user).get(url).status_code == 200


@pytest.mark.parametrize("url", SETTINGS_PAGES)
def test_settings_pages_are_refused_to_agents_and_light_agents(agent_user, light_agent_user, url):
    assert signed_in_client(agent_user).get(url).status_code == 403
    assert signed_in_client(light_agent_user).get(url).status_code == 403


def test_settings_link_shows_only_for_admins(admin_user, agent_user):
    assert b'href="/settings/"' in signed_in_client(admin_user).get("/inbox/my-open/").content
    assert b'href="/settings/"' not in signed_in_client(agent_user).get("/inbox/my-open/").content


def test_agent_cannot_post_settings_and_nothing_changes(agent_user):
    organization = OrganizationFactory()
    client = signed_in_client(agent_user)
    prefix = f"agent-{agent_user.pk}"

    responses = [
        client.post(
            "/settings/agents/", {"name": "X", "email": "x@concierge.test", "role": "admin"}
        ),
        client.post(
            f"/settings/agents/{agent_user.pk}/",
            {f"{prefix}-role": "admin", f"{prefix}-capacity": 5},
        ),
        client.post("/settings/teams/", {"name": "Sneaky"}),
        client.post(
            "/settings/fields/new/", {"key": "k", "label": "K", "field_type": "text", "position": 0}
        ),
        client.post("/settings/views/new/", {"name": "V", "sort": "-updated_at", "position": 0}),
        client.post(
            f"/settings/organizations/{organization.pk}/", {"members_see_all_requests": "on"}
        ),
    ]

    assert [r.status_code for r in responses] == [403] * 6
    agent_user.refresh_from_db()
    organization.refresh_from_db()
    assert agent_user.role == Role.AGENT
    assert not User.objects.filter(email="x@concierge.test").exists()
    assert (
        not Team.objects.exists()
        and not CustomField.objects.exists()
        and not SavedView.objects.exists()
    )
    assert organization.members_see_all_requests is False


def test_admin_invites_an_agent_who_then_chooses_a_password(admin_user):
    client = signed_in_client(admin_user)

    response = client.post(
        "/settings/agents/",
        {
            "name": "Nina New",
            "email": "nina@concierge.test",
            "role": "light_agent",
            "send_invite": "on",
        },
    )

    assert response["Location"] == "/settings/agents/"
    nina = User.objects.get(email="nina@concierge.test")
    assert nina.role == Role.LIGHT_AGENT
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nina@concierge.test"]
    assert "/password-reset/" in mail.outbox[0].body


def test_duplicate_agent_email_is_explained(admin_user, agent_user):
    response = signed_in_client(admin_user).post(
        "/settings/agents/", {"name": "Again", "email": agent_user.email, "role": "agent"}
    )

    assert response.status_code == 409
    assert b"Already in use." in response.content


def test_admin_changes_role_capacity_and_deactivates(admin_user):
    agent = make_agent()
    prefix = f"agent-{agent.pk}"

    signed_in_client(admin_user).post(
        f"/settings/agents/{agent.pk}/", {f"{prefix}-role": "light_agent", f"{prefix}-capacity": 7}
    )

    agent.refresh_from_db()
    assert (agent.role, agent.capacity, agent.is_active) == ("light_agent", 7, False)


def test_admin_creates_and_edits_a_team(admin_user, agent_user):
    client = signed_in_client(admin_user)

    client.post(
        "/settings/teams/", {"name": "Billing", "description": "Money", "members": [agent_user.pk]}
    )
    team = Team.objects.get()
    client.post(
        f"/settings/teams/{team.pk}/",
        {"name": "Billing EU", "members": [admin_user.pk, agent_user.pk]},
    )

    team.refresh_from_db()
    assert team.name == "Billing EU"
    assert set(team.members.all()) == {admin_user, agent_user}


def test_admin_creates_edits_and_deletes_a_custom_field(admin_user):
    client = signed_in_client(admin_user)

    created = client.post(
        "/settings/fields/new/",
        {
            "key": "plan",
            "label": "Plan",
            "field_type": "dropdown",
            "choices": "free\npro\n\npro",
            "is_required_on_solve": "on",
            "is_active": "on",
            "position": 2,
        },
    )
    field = CustomField.objects.get()
    changed_key = client.post(
        f"/settings/fields/{field.pk}/",
        {"key": "other", "label": "Plan", "field_type": "dropdown", "choices": "a", "position": 0},
    )
    client.post(
        f"/settings/fields/{field.pk}/",
        {
            "key": "plan",
            "label": "Plan tier",
            "field_type": "dropdown",
            "choices": "free\npro\nteam",
            "position": 1,
            "is_customer_visible": "on",
        },
    )
    field.refresh_from_db()
    client.post(f"/settings/fields/{field.pk}/delete/")

    assert created["Location"] == "/settings/fields/"
    assert changed_key.status_code == 422 and b"The key cannot change" in changed_key.content
    assert (field.label, field.choices, field.is_active, field.is_customer_visible) == (
        "Plan tier",
        ["free", "pro", "team"],
        False,
        True,
    )
    assert not CustomField.objects.exists()


def test_dropdown_without_options_is_refused(admin_user):
    response = signed_in_client(admin_user).post(
        "/settings/fields/new/",
        {"key": "plan", "label": "Plan", "field_type": "dropdown", "choices": "", "position": 0},
    )

    assert response.status_code == 422
    assert b"need at least one option" in response.content
    assert not CustomField.objects.exists()


def test_admin_creates_a_shared_view_that_filters_the_inbox(admin_user, agent_user):
    CustomFieldFactory(key="seats", label="Seats", field_type="number")
    team = TeamFactory()
    matching = TicketFactory(
        status=Status.OPEN, priority="urgent", team=team, custom_fields={"seats": 10}
    )
    TicketFactory(status=Status.OPEN, priority="urgent", team=team, custom_fields={"seats": 3})
    TicketFactory(status=Status.OPEN, priority="low", team=team, custom_fields={"seats": 10})

    response = signed_in_client(admin_user).post(
        "/settings/views/new/",
        {
            "name": "Big urgent",
            "status": ["unsolved"],
            "priority": ["urgent"],
            "team": team.pk,
            "custom_field": "seats",
            "custom_value": "10",
            "sort": "-created_at",
            "columns": ["number", "subject", "priority"],
            "position": 1,
        },
    )
    view = SavedView.objects.get()
    inbox = signed_in_client(agent_user).get(f"/inbox/saved-{view.pk}/").content.decode()

    assert response["Location"] == "/settings/views/"
    assert view.owner is None
    assert view.filters == {
        "status": ["unsolved"],
        "priority": ["urgent"],
        "team": str(team.pk),
        "custom_fields": {"seats": 10},
    }
    assert view.columns == ["number", "subject", "priority"]
    assert f'data-ticket-id="{matching.pk}"' in inbox
    assert inbox.count("data-ticket-id=") == 1


def test_admin_edits_and_deletes_a_shared_view(admin_user):
    view = SavedView.objects.create(name="Old", filters={"priority": ["high"]})
    client = signed_in_client(admin_user)

    page = client.get(f"/settings/views/{view.pk}/").content.decode()
    client.post(
        f"/settings/views/{view.pk}/",
        {"name": "Renamed", "tags": "vip", "sort": "updated_at", "position": 0},
    )
    view.refresh_from_db()
    renamed = (view.name, view.filters, view.sort)
    client.post(f"/settings/views/{view.pk}/delete/")

    assert 'value="high"' in page and 'value="Old"' in page
    assert renamed == ("Renamed", {"tags": ["vip"]}, "updated_at")
    assert not SavedView.objects.exists()


def test_admin_toggles_organization_visibility(admin_user):
    organization = OrganizationFactory()
    client = signed_in_client(admin_user)

    client.post(f"/settings/organizations/{organization.pk}/", {"members_see_all_requests": "on"})
    organization.refresh_from_db()
    opened = organization.members_see_all_requests
    client.post(f"/settings/organizations/{organization.pk}/", {})
    organization.refresh_from_db()

    assert (opened, organization.members_see_all_requests) == (True, False)
