"""Ticket reads: filters, keyset pagination, inbox counts, saved views."""

from __future__ import annotations

import pytest

from concierge.core.errors import NotFound, PermissionDenied, ValidationFailed
from concierge.tickets import actions, services
from concierge.tickets.models import SavedView, Status, Ticket
from concierge.tickets.services import TicketFilters
from tests.factories import CustomerFactory, CustomFieldFactory, TicketFactory, make_agent

pytestmark = pytest.mark.django_db


def test_cursor_pagination_walks_every_ticket_once_in_both_directions(agent_user):
    created = [TicketFactory() for _ in range(7)]
    Ticket.objects.filter(pk__in=[t.pk for t in created[:3]]).update(
        updated_at=created[0].updated_at
    )

    seen, cursor = [], ""
    while True:
        page = services.list_tickets(
            user=agent_user, filters=TicketFilters(), cursor=cursor, page_size=3
        )
        seen.extend(t.pk for t in page.tickets)
        if not page.next_cursor:
            break
        last_page, cursor = page, page.next_cursor
    back = services.list_tickets(
        user=agent_user, filters=TicketFilters(), cursor=page.previous_cursor or "", page_size=3
    )

    assert sorted(seen) == sorted(t.pk for t in created)
    assert len(seen) == len(set(seen))
    assert [t.pk for t in back.tickets] == [t.pk for t in last_page.tickets]


def test_tampered_cursor_is_a_validation_error(agent_user):
    with pytest.raises(ValidationFailed, match="cursor"):
        services.list_tickets(user=agent_user, filters=TicketFilters(), cursor="not-a-cursor")


def test_participant_filter_finds_requested_and_ccd_tickets(agent_user):
    customer = CustomerFactory()
    requested = TicketFactory(requester=customer)
    ccd = TicketFactory()
    ccd.ccs.add(customer)
    TicketFactory()

    page = services.list_tickets(user=agent_user, filters=TicketFilters(participant_id=customer.pk))

    assert {t.pk for t in page.tickets} == {requested.pk, ccd.pk}


def test_custom_field_filter_from_a_query_string_matches_typed_values(agent_user):
    CustomFieldFactory(key="seats", field_type="number")
    CustomFieldFactory(
        key="areas", field_type="multi_select", choices=["billing", "login", "mobile"]
    )
    match = TicketFactory()
    other = TicketFactory()
    actions.update_ticket(
        actor=agent_user,
        ticket=match,
        changes={"custom_fields": {"seats": 3, "areas": ["billing", "login"]}},
    )
    actions.update_ticket(
        actor=agent_user,
        ticket=other,
        changes={"custom_fields": {"seats": 30, "areas": ["mobile"]}},
    )

    by_number = services.list_tickets(
        user=agent_user, filters=TicketFilters.from_dict({"custom_fields": {"seats": "3"}})
    )
    by_option = services.list_tickets(
        user=agent_user, filters=TicketFilters.from_dict({"custom_fields": {"areas": "login"}})
    )

    assert [t.pk for t in by_number.tickets] == [match.pk]
    assert [t.pk for t in by_option.tickets] == [match.pk]
    with pytest.raises(ValidationFailed):
        services.list_tickets(
            user=agent_user, filters=TicketFilters.from_dict({"custom_fields": {"seats": "many"}})
        )


def test_view_counts_refresh_after_a_ticket_changes(agent_user, django_capture_on_commit_callbacks):
    ticket = TicketFactory()
    before = services.view_counts(user=agent_user)

    with django_capture_on_commit_callbacks(execute=True):
        actions.update_ticket(actor=agent_user, ticket=ticket, changes={"assignee": agent_user})
    after = services.view_counts(user=agent_user)

    assert before["my-open"] == 0 and before["unassigned"] == 1
    assert after["my-open"] == 1 and after["unassigned"] == 0


def test_agent_keeps_personal_views_that_others_cannot_touch(agent_user):
    colleague = make_agent()
    mine = actions.save_saved_view(
        actor=agent_user, name="My urgent", filters={"priority": ["urgent"]}, shared=False
    )

    assert mine.owner == agent_user
    assert "My urgent" in [v.name for v in services.inbox_views(user=agent_user)]
    assert "My urgent" not in [v.name for v in services.inbox_views(user=colleague)]
    with pytest.raises(NotFound):
        actions.delete_saved_view(actor=colleague, view=mine)
    with pytest.raises(PermissionDenied):
        actions.save_saved_view(actor=agent_user, name="For all", filters={}, shared=True)
    assert SavedView.objects.count() == 1


def test_unsolved_status_shortcut_expands_to_every_open_state(agent_user):
    tickets = {status: TicketFactory(status=status) for status in Status.values}

    page = services.list_tickets(
        user=agent_user, filters=TicketFilters.from_dict({"status": "unsolved"})
    )

    assert {t.status for t in page.tickets} == {"new", "open", "pending", "on_hold"}
    assert len(page.tickets) == 4 and tickets
