"""The inbox: views, keyset pages, bulk actions, and a query count that does not grow with rows."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from concierge.ai.models import Prediction
from concierge.core.models import Tag
from concierge.tickets.models import SavedView, Status, Ticket
from tests.conftest import signed_in_client
from tests.factories import TeamFactory, TicketFactory, make_agent

pytestmark = pytest.mark.django_db


def ticket_ids_on(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-ticket-id="(\d+)"', response.content.decode())]


def test_my_open_view_shows_only_my_new_and_open_tickets(agent_user):
    other = make_agent()
    mine = TicketFactory(assignee=agent_user, status=Status.OPEN)
    mine_new = TicketFactory(assignee=agent_user, status=Status.NEW)
    TicketFactory(assignee=agent_user, status=Status.SOLVED)
    TicketFactory(assignee=other, status=Status.OPEN)
    TicketFactory(status=Status.NEW)

    response = signed_in_client(agent_user).get("/inbox/my-open/")

    assert response.status_code == 200
    assert sorted(ticket_ids_on(response)) == sorted([mine.pk, mine_new.pk])


def test_unassigned_view_shows_unsolved_tickets_without_assignee(agent_user):
    unassigned = TicketFactory(status=Status.PENDING)
    TicketFactory(status=Status.SOLVED)
    TicketFactory(assignee=agent_user, status=Status.OPEN)

    response = signed_in_client(agent_user).get("/inbox/unassigned/")

    assert ticket_ids_on(response) == [unassigned.pk]


def test_sidebar_lists_views_with_counts(agent_user):
    TicketFactory(assignee=agent_user, status=Status.OPEN)
    TicketFactory(status=Status.NEW)
    SavedView.objects.create(name="VIP queue", filters={"tags": ["vip"]})

    content = signed_in_client(agent_user).get("/inbox/all-open/").content.decode()

    assert re.search(r"My open</span><span class=\"count\">1<", content)
    assert re.search(r"All open</span><span class=\"count\">2<", content)
    assert "VIP queue" in content


def test_saved_view_uses_its_filters_and_columns(agent_user):
    vip = TicketFactory(status=Status.OPEN)
    vip.tags.add(Tag.objects.create(name="vip"))
    TicketFactory(status=Status.OPEN)
    view = SavedView.objects.create(
        name="VIP", filters={"tags": ["vip"]}, columns=["number", "subject", "tags"]
    )

    response = signed_in_client(agent_user).get(f"/inbox/saved-{view.pk}/")

    assert ticket_ids_on(response) == [vip.pk]
    assert b'class="col-tags"' in response.content
    assert b'class="col-assignee"' not in response.content


def test_triage_columns_show_the_latest_label_with_corrections_winning(agent_user):
    ticket = TicketFactory(status=Status.OPEN)
    quiet = TicketFactory(status=Status.OPEN)  # never triaged: dashes

    def predict(kind: str, label: str, **extra) -> Prediction:  # type: ignore[no-untyped-def]
        return Prediction.objects.create(
            ticket=ticket, kind=kind, label=label, confidence=0.83, model_version="t", **extra
        )

    predict("intent", "shipping")
    predict("intent", "billing", corrected_label="<b>refunds</b>")  # the latest, corrected
    predict("sentiment", "positive")
    predict("sentiment", "negative")  # the latest message turned negative
    predict("urgency", "out_of_scope")  # not a real urgency; shows how "none of these" reads
    view = SavedView.objects.create(
        name="Triage", filters={}, columns=["number", "intent", "sentiment", "urgency", "language"]
    )

    content = signed_in_client(agent_user).get(f"/inbox/saved-{view.pk}/").content.decode()
    row = content.split(f'data-ticket-id="{ticket.pk}"', 1)[1].split("</tr>", 1)[0]
    quiet_row = content.split(f'data-ticket-id="{quiet.pk}"', 1)[1].split("</tr>", 1)[0]

    assert '<th scope="col" class="col-intent">Intent</th>' in content
    assert "concierge/triage.css" in content  # the labels' colours
    assert "&lt;b&gt;refunds&lt;/b&gt;" in row and "<b>refunds</b>" not in row
    assert 'title="set by an agent"' in row and ">shipping<" not in row
    assert 'triage-label--negative" title="model, 83% sure">negative<' in row
    assert ">positive<" not in row
    assert ">none of these<" in row
    assert quiet_row.count("<td>—</td>") == 4


def test_unknown_view_is_not_found(agent_user):
    assert signed_in_client(agent_user).get("/inbox/nope/").status_code == 404


def test_pages_walk_by_cursor_older_and_back_newer(agent_user):
    tickets = [TicketFactory(status=Status.OPEN) for _ in range(30)]
    newest_first = [t.pk for t in sorted(tickets, key=lambda t: (t.updated_at, t.pk), reverse=True)]
    client = signed_in_client(agent_user)

    first = client.get("/inbox/all-open/")
    older_link = re.search(r'rel="next" href="([^"]+)">Older', first.content.decode())
    assert older_link is not None
    older_url = older_link.group(1).replace("&amp;", "&")
    second = client.get("/inbox/all-open/" + older_url)
    newer_url = (
        re.search(r'rel="prev" href="([^"]+)">← Newer', second.content.decode())
        .group(1)
        .replace("&amp;", "&")
    )
    back = client.get("/inbox/all-open/" + newer_url)

    assert ticket_ids_on(first) == newest_first[:25]
    assert ticket_ids_on(second) == newest_first[25:]
    assert b'rel="next"' not in second.content
    assert ticket_ids_on(back) == newest_first[:25]
    assert "offset" not in older_url.lower()


def test_a_broken_cursor_shows_the_first_page_with_a_message(agent_user):
    ticket = TicketFactory(status=Status.OPEN)

    response = signed_in_client(agent_user).get("/inbox/all-open/?cursor=garbage")

    assert response.status_code == 200
    assert ticket_ids_on(response) == [ticket.pk]
    assert b"Invalid cursor." in response.content


def test_sort_selector_changes_the_order(agent_user):
    first, second = TicketFactory(status=Status.OPEN), TicketFactory(status=Status.OPEN)

    response = signed_in_client(agent_user).get("/inbox/all-open/?sort=created_at")

    assert ticket_ids_on(response) == [first.pk, second.pk]


def test_bulk_update_assigns_and_tags_selected_tickets(agent_user):
    colleague = make_agent(name="Colleague")
    one, two, untouched = (TicketFactory(status=Status.NEW) for _ in range(3))
    client = signed_in_client(agent_user)

    assign = client.post(
        "/inbox/all-open/bulk/",
        {
            "ticket_ids": [one.pk, two.pk],
            "action": "assign",
            "assignee": colleague.pk,
            "next": "/inbox/all-open/",
        },
    )
    tag = client.post(
        "/inbox/all-open/bulk/",
        {"ticket_ids": [one.pk, two.pk], "action": "add_tags", "tags": "vip, billing"},
    )

    assert assign["Location"] == "/inbox/all-open/"
    assert tag.status_code == 302
    for ticket in (one, two):
        ticket.refresh_from_db()
        assert ticket.assignee == colleague
        assert ticket.status == Status.OPEN
        assert sorted(ticket.tags.values_list("name", flat=True)) == ["billing", "vip"]
    untouched.refresh_from_db()
    assert untouched.assignee is None


def test_bulk_status_priority_and_team(agent_user):
    team = TeamFactory()
    one, two = TicketFactory(), TicketFactory()
    client = signed_in_client(agent_user)
    ids = [one.pk, two.pk]

    client.post(
        "/inbox/all-open/bulk/", {"ticket_ids": ids, "action": "status", "status": "pending"}
    )
    client.post(
        "/inbox/all-open/bulk/", {"ticket_ids": ids, "action": "priority", "priority": "urgent"}
    )
    client.post("/inbox/all-open/bulk/", {"ticket_ids": ids, "action": "team", "team": team.pk})

    assert set(Ticket.objects.filter(pk__in=ids).values_list("status", "priority", "team")) == {
        ("pending", "urgent", team.pk)
    }


def test_bulk_error_is_shown_and_changes_nothing(agent_user):
    good, locked = TicketFactory(), TicketFactory()
    merged_target = TicketFactory()
    Ticket.objects.filter(pk=locked.pk).update(merged_into=merged_target)
    client = signed_in_client(agent_user)

    response = client.post(
        "/inbox/all-open/bulk/",
        {"ticket_ids": [good.pk, locked.pk], "action": "priority", "priority": "high"},
        follow=True,
    )

    assert "Nothing changed" in response.content.decode()
    assert f"was merged into #{merged_target.pk}" in response.content.decode()
    good.refresh_from_db()
    assert good.priority == "normal"


def test_bulk_without_selection_explains_itself(agent_user):
    response = signed_in_client(agent_user).post(
        "/inbox/all-open/bulk/", {"action": "status", "status": "solved"}, follow=True
    )

    assert b"Select at least one ticket." in response.content


def test_bulk_merge_moves_conversations_into_the_chosen_ticket(agent_user):
    target, source = TicketFactory(), TicketFactory()

    signed_in_client(agent_user).post(
        "/inbox/all-open/bulk/",
        {"ticket_ids": [target.pk, source.pk], "action": "merge", "merge_target": target.pk},
    )

    source.refresh_from_db()
    assert source.merged_into_id == target.pk
    assert source.status == Status.CLOSED
    assert target.entries.filter(kind="reply").count() == 2


def test_bulk_merge_target_must_be_one_of_the_selected(agent_user):
    one, two, outsider = TicketFactory(), TicketFactory(), TicketFactory()

    response = signed_in_client(agent_user).post(
        "/inbox/all-open/bulk/",
        {"ticket_ids": [one.pk, two.pk], "action": "merge", "merge_target": outsider.pk},
        follow=True,
    )

    assert b"Nothing changed" in response.content
    assert not Ticket.objects.filter(merged_into__isnull=False).exists()


def test_light_agent_bulk_update_is_refused_and_changes_nothing(light_agent_user):
    ticket = TicketFactory()

    response = signed_in_client(light_agent_user).post(
        "/inbox/all-open/bulk/",
        {"ticket_ids": [ticket.pk], "action": "status", "status": "solved"},
        follow=True,
    )

    assert b"Nothing changed" in response.content
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert (
        b'name="ticket_ids"'
        not in signed_in_client(light_agent_user).get("/inbox/all-open/").content
    )


# One more than before the triage columns: their labels for the whole page in one query.
INBOX_QUERY_LIMIT = 21


@pytest.mark.parametrize("rows", [5, 30])
def test_inbox_query_count_does_not_grow_with_rows(agent_user, rows, django_assert_max_num_queries):
    team = TeamFactory()
    colleague = make_agent()
    vip = Tag.objects.create(name="vip")
    for index in range(rows):
        ticket = TicketFactory(
            status=Status.OPEN, assignee=colleague if index % 2 else agent_user, team=team
        )
        ticket.tags.add(vip)
    SavedView.objects.create(
        name="Every column",
        filters={},
        columns=[
            "number",
            "subject",
            "requester",
            "organization",
            "status",
            "priority",
            "channel",
            "assignee",
            "team",
            "tags",
            "intent",
            "sentiment",
            "urgency",
            "language",
            "created_at",
            "updated_at",
            "due_at",
        ],
    )
    for ticket in Ticket.objects.all():
        for kind, label in (("intent", "billing"), ("sentiment", "negative")):
            Prediction.objects.create(
                ticket=ticket, kind=kind, label=label, confidence=0.9, model_version="test"
            )
    client = signed_in_client(agent_user)
    view_slug = f"saved-{SavedView.objects.get().pk}"
    client.get(f"/inbox/{view_slug}/")  # warm the session
    cache.clear()

    with django_assert_max_num_queries(INBOX_QUERY_LIMIT):
        response = client.get(f"/inbox/{view_slug}/")

    assert len(ticket_ids_on(response)) == min(rows, 25)
