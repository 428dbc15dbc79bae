"""The access policy by role, at the domain level (tests/security covers the interfaces)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from concierge.core import policy
from concierge.tickets.models import Ticket
from tests.factories import (
    OrganizationFactory,
    TicketFactory,
    make_admin,
    make_agent,
    make_customer_user,
    make_light_agent,
)

pytestmark = pytest.mark.django_db


def visible_ids(user) -> set[int]:
    return set(policy.visible_tickets(user, Ticket.objects.all()).values_list("pk", flat=True))


def test_customer_sees_own_and_ccd_tickets_only():
    organization = OrganizationFactory()
    alice = make_customer_user(organization=organization)
    bob = make_customer_user(organization=organization)
    own = TicketFactory(requester=alice.customer)
    colleague = TicketFactory(requester=bob.customer)
    ccd = TicketFactory(requester=bob.customer)
    ccd.ccs.add(alice.customer)
    TicketFactory()

    assert visible_ids(alice) == {own.pk, ccd.pk}
    assert not policy.can_view_ticket(alice, colleague)


def test_org_visibility_opens_colleagues_tickets_only_when_enabled():
    organization = OrganizationFactory(members_see_all_requests=True)
    alice = make_customer_user(organization=organization)
    bob = make_customer_user(organization=organization)
    colleague = TicketFactory(requester=bob.customer)
    outsider = TicketFactory()

    assert colleague.pk in visible_ids(alice)
    assert outsider.pk not in visible_ids(alice)


def test_every_staff_role_sees_every_ticket():
    tickets = {TicketFactory().pk for _ in range(3)}

    for user in (make_admin(), make_agent(), make_light_agent()):
        assert visible_ids(user) == tickets


def test_anonymous_and_inactive_users_see_nothing():
    TicketFactory()
    inactive = make_agent(is_active=False)

    assert visible_ids(AnonymousUser()) == set()
    assert visible_ids(inactive) == set()


@pytest.mark.parametrize(
    ("make_user", "update", "reply", "note", "configure"),
    [
        (make_admin, True, True, True, True),
        (make_agent, True, True, True, False),
        (make_light_agent, False, False, True, False),
    ],
)
def test_staff_permissions_by_role(make_user, update, reply, note, configure):
    user = make_user()
    ticket = TicketFactory()

    assert policy.can_update_ticket(user, ticket) is update
    assert policy.can_reply_publicly(user, ticket) is reply
    assert policy.can_add_internal_note(user, ticket) is note
    assert policy.can_manage_settings(user) is configure


def test_customer_cannot_write_notes_or_see_them():
    customer = make_customer_user()
    ticket = TicketFactory(requester=customer.customer)

    assert policy.can_reply_publicly(customer, ticket)
    assert not policy.can_add_internal_note(customer, ticket)
    assert not policy.can_view_internal_notes(customer)
    assert not policy.can_update_ticket(customer, ticket)


def test_an_identified_chat_visitor_reads_signed_in_articles_and_nothing_else():
    """The host site vouched for them: the help center's signed-in articles, no records."""
    customer_user = make_customer_user()
    TicketFactory(requester=customer_user.customer)
    reader = policy.IdentifiedVisitor(customer_id=customer_user.customer.pk)

    assert policy.reads_signed_in_articles(reader)
    assert not policy.article_needs_sign_in(reader, "signed_in")
    assert policy.customer_of(reader) is None and not policy.is_staff(reader)
    assert visible_ids(reader) == set()
    assert policy.searchable_kinds(reader) == {"article"}
    assert not policy.can_search_staff_text(reader)
    assert not policy.reads_signed_in_articles(AnonymousUser())
