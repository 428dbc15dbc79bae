"""The inbox filter bar and personal views: save, list with counts, rename, delete."""

from __future__ import annotations

import re

import pytest

from concierge.core.models import Tag
from concierge.tickets.models import Channel, Priority, SavedView, Status
from tests.conftest import signed_in_client
from tests.factories import TeamFactory, TicketFactory, make_agent

pytestmark = pytest.mark.django_db


def ticket_ids_on(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-ticket-id="(\d+)"', response.content.decode())]


def my_views_section(response) -> str:
    content = response.content.decode()
    start = content.index('id="my-views-title"')
    return content[start : content.index("</aside>", start)]


def test_filter_bar_narrows_a_view_through_the_query_string(agent_user):
    urgent = TicketFactory(status=Status.OPEN, priority=Priority.URGENT)
    TicketFactory(status=Status.OPEN, priority=Priority.LOW)
    TicketFactory(status=Status.SOLVED, priority=Priority.URGENT)

    response = signed_in_client(agent_user).get(
        "/inbox/all-open/?filtered=1&status=new&status=open&priority=urgent"
    )

    assert response.status_code == 200
    assert ticket_ids_on(response) == [urgent.pk]


def test_filter_bar_starts_with_the_views_filters_and_keeps_its_other_filters(agent_user):
    team = TeamFactory()
    vip = Tag.objects.create(name="vip")
    kept = TicketFactory(status=Status.PENDING, team=team, channel=Channel.EMAIL)
    kept.tags.add(vip)
    wrong_channel = TicketFactory(status=Status.PENDING, team=team, channel=Channel.PHONE)
    wrong_channel.tags.add(vip)
    TicketFactory(status=Status.PENDING, channel=Channel.EMAIL).tags.add(vip)
    saved = SavedView.objects.create(
        name="VIP team", filters={"tags": ["vip"], "team": str(team.pk), "exclude_tags": ["spam"]}
    )
    client = signed_in_client(agent_user)

    plain = client.get(f"/inbox/saved-{saved.pk}/").content.decode()
    narrowed = client.get(
        f"/inbox/saved-{saved.pk}/?filtered=1&channel=email&team={team.pk}&tags=vip"
    )

    assert 'name="tags" value="vip"' in plain
    assert re.search(rf'<option value="{team.pk}" selected>', plain)
    assert ticket_ids_on(narrowed) == [kept.pk]


def test_unknown_filter_value_is_explained_and_the_view_is_shown(agent_user):
    ticket = TicketFactory(status=Status.OPEN)

    response = signed_in_client(agent_user).get("/inbox/all-open/?filtered=1&priority=whenever")

    assert response.status_code == 200
    assert b"Filters not applied" in response.content
    assert ticket_ids_on(response) == [ticket.pk]


def test_pages_of_a_filtered_list_keep_the_filters(agent_user):
    for _ in range(27):
        TicketFactory(status=Status.OPEN, priority=Priority.HIGH)

    response = signed_in_client(agent_user).get("/inbox/all-open/?filtered=1&priority=high")

    assert re.search(
        r'rel="next" href="\?filtered=1&amp;priority=high&amp;sort=', response.content.decode()
    )


def test_agent_saves_the_filtered_list_as_a_personal_view(agent_user):
    urgent = TicketFactory(status=Status.OPEN, priority=Priority.URGENT)
    TicketFactory(status=Status.OPEN, priority=Priority.LOW)
    client = signed_in_client(agent_user)
    client.get("/inbox/all-open/")  # counts are now cached without the new view

    response = client.post(
        "/inbox/all-open/save-view/",
        {
            "name": "  Urgent   open ",
            "filtered": "1",
            "status": ["new", "open"],
            "priority": "urgent",
            "sort": "created_at",
        },
    )

    saved = SavedView.objects.get()
    assert response["Location"] == f"/inbox/saved-{saved.pk}/"
    assert (saved.owner, saved.name, saved.sort) == (agent_user, "Urgent open", "created_at")
    # What the bar does not show is kept from the view it was saved from (no spam).
    assert saved.filters == {
        "status": ["new", "open"],
        "priority": ["urgent"],
        "exclude_tags": ["spam"],
    }
    page = client.get(response["Location"])
    assert ticket_ids_on(page) == [urgent.pk]
    assert re.search(r"Urgent open</span><span class=\"count\">1<", my_views_section(page))


def test_saving_an_unfiltered_view_keeps_its_filters_and_columns(light_agent_user):
    shared = SavedView.objects.create(
        name="VIP", filters={"tags": ["vip"]}, columns=["number", "subject", "tags"]
    )

    signed_in_client(light_agent_user).post(
        f"/inbox/saved-{shared.pk}/save-view/", {"name": "My VIP", "sort": "-updated_at"}
    )

    mine = SavedView.objects.get(owner=light_agent_user)
    assert mine.filters == {"tags": ["vip"]}
    assert mine.columns == ["number", "subject", "tags"]


def test_saving_a_view_without_a_name_explains_and_saves_nothing(agent_user):
    response = signed_in_client(agent_user).post(
        "/inbox/all-open/save-view/", {"name": "", "filtered": "1"}, follow=True
    )

    assert b"The view was not saved" in response.content
    assert not SavedView.objects.exists()


def test_agent_renames_and_deletes_own_view(agent_user):
    mine = SavedView.objects.create(
        name="Mine", owner=agent_user, filters={"priority": ["high"]}, sort="created_at"
    )
    client = signed_in_client(agent_user)

    page = client.get(f"/inbox/saved-{mine.pk}/").content.decode()
    renamed = client.post(f"/inbox/views/{mine.pk}/rename/", {"name": "Hot"})
    mine.refresh_from_db()
    name_after_rename = mine.name
    deleted = client.post(f"/inbox/views/{mine.pk}/delete/")

    assert f'action="/inbox/views/{mine.pk}/rename/"' in page
    assert renamed["Location"] == f"/inbox/saved-{mine.pk}/"
    assert name_after_rename == "Hot"
    assert (mine.filters, mine.sort) == ({"priority": ["high"]}, "created_at")
    assert deleted["Location"] == "/inbox/"
    assert not SavedView.objects.exists()


def test_agent_cannot_see_rename_or_delete_another_agents_view(agent_user):
    colleague = make_agent()
    theirs = SavedView.objects.create(name="Colleague's", owner=colleague, filters={})
    client = signed_in_client(agent_user)

    inbox = client.get("/inbox/all-open/")
    opened = client.get(f"/inbox/saved-{theirs.pk}/")
    renamed = client.post(f"/inbox/views/{theirs.pk}/rename/", {"name": "Mine now"})
    deleted = client.post(f"/inbox/views/{theirs.pk}/delete/")
    saved_from = client.post(f"/inbox/saved-{theirs.pk}/save-view/", {"name": "Copy"})

    assert b"Colleague&#x27;s" not in inbox.content
    assert (opened.status_code, renamed.status_code, deleted.status_code) == (404, 404, 404)
    assert saved_from.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Colleague's"
    assert list(SavedView.objects.all()) == [theirs]


def test_agent_cannot_rename_or_delete_a_shared_view_from_the_inbox(agent_user):
    shared = SavedView.objects.create(name="Everyone's", filters={})
    client = signed_in_client(agent_user)

    page = client.get(f"/inbox/saved-{shared.pk}/").content.decode()
    renamed = client.post(f"/inbox/views/{shared.pk}/rename/", {"name": "Mine now"})
    deleted = client.post(f"/inbox/views/{shared.pk}/delete/")

    assert "/rename/" not in page
    assert (renamed.status_code, deleted.status_code) == (403, 403)
    shared.refresh_from_db()
    assert shared.name == "Everyone's"


def test_shared_views_stay_out_of_my_views(agent_user):
    SavedView.objects.create(name="Shared queue", filters={})
    SavedView.objects.create(name="Personal queue", owner=agent_user, filters={})

    response = signed_in_client(agent_user).get("/inbox/all-open/")

    assert "Personal queue" in my_views_section(response)
    assert "Shared queue" not in my_views_section(response)
    assert "Shared queue" in response.content.decode()


def test_customer_cannot_save_a_view(customer_user):
    response = signed_in_client(customer_user).post(
        "/inbox/all-open/save-view/", {"name": "Sneaky"}
    )

    assert response.status_code == 403
    assert not SavedView.objects.exists()
