"""Deleting a team from settings: asked first, admins only, tickets kept without a team."""

from __future__ import annotations

import pytest

from concierge.accounts.models import Team
from tests.conftest import signed_in_client
from tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_team_deletion_asks_first_and_says_tickets_keep_no_team(admin_user):
    team = TeamFactory(name="Billing")
    TicketFactory(team=team)
    TicketFactory(team=team)

    response = signed_in_client(admin_user).get(f"/settings/teams/{team.pk}/delete/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Delete the team Billing?" in content
    assert "Its 2 tickets will be kept and have no team" in content
    assert f'action="/settings/teams/{team.pk}/delete/"' in content
    assert Team.objects.filter(pk=team.pk).exists()


def test_admin_deletes_a_team_and_its_tickets_stay_without_team(admin_user, agent_user):
    team = TeamFactory(name="Billing")
    team.members.add(agent_user)
    ticket = TicketFactory(team=team)
    client = signed_in_client(admin_user)

    response = client.post(f"/settings/teams/{team.pk}/delete/", follow=True)

    assert response.redirect_chain[-1][0] == "/settings/teams/"
    assert b"Team Billing deleted. Its tickets now have no team." in response.content
    assert not Team.objects.exists()
    ticket.refresh_from_db()
    assert ticket.team is None


@pytest.mark.parametrize("role", ["agent_user", "light_agent_user", "customer_user"])
def test_only_admins_delete_teams_and_nothing_changes(role, request):
    user = request.getfixturevalue(role)
    team = TeamFactory()
    ticket = TicketFactory(team=team)
    client = signed_in_client(user)

    asked = client.get(f"/settings/teams/{team.pk}/delete/")
    deleted = client.post(f"/settings/teams/{team.pk}/delete/")

    assert (asked.status_code, deleted.status_code) == (403, 403)
    assert Team.objects.filter(pk=team.pk).exists()
    ticket.refresh_from_db()
    assert ticket.team == team


def test_deleting_an_unknown_team_is_not_found(admin_user):
    response = signed_in_client(admin_user).post("/settings/teams/999999/delete/")

    assert response.status_code == 404


def test_pages_link_the_svg_favicon_which_is_served(agent_user):
    page = signed_in_client(agent_user).get("/inbox/all-open/").content.decode()

    assert '<link rel="icon" href="/static/concierge/favicon.svg" type="image/svg+xml">' in page
