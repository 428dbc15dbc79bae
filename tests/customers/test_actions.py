"""The CRM: identities, organizations by domain, merging customers."""

from __future__ import annotations

import pytest

from concierge.core.errors import Conflict, PermissionDenied
from concierge.customers import actions
from concierge.customers.models import Customer, CustomerIdentity
from tests.factories import CustomerFactory, OrganizationFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_new_customer_joins_organization_by_email_domain(agent_user):
    organization = OrganizationFactory(domains=["acme.example"])

    customer = actions.create_customer(actor=agent_user, name="Wile", email="Wile@ACME.example")

    assert customer.organization == organization
    assert customer.primary_email == "wile@acme.example"


def test_duplicate_email_identity_is_refused(agent_user):
    CustomerFactory(email="same@x.test")

    with pytest.raises(Conflict):
        actions.create_customer(actor=agent_user, name="Other", email="SAME@x.test")
    assert Customer.objects.count() == 1


def test_find_or_create_by_email_follows_merges():
    old = CustomerFactory(email="old@x.test")
    survivor = CustomerFactory(email="new@x.test")
    old.merged_into = survivor
    old.save()

    assert actions.find_or_create_customer_by_email(email="OLD@x.test") == survivor
    created = actions.find_or_create_customer_by_email(email="fresh@x.test", name="Fresh")
    assert created.name == "Fresh"


def test_merge_moves_identities_and_tickets(agent_user):
    source = CustomerFactory(email="a@x.test")
    target = CustomerFactory(email="b@x.test")
    ticket = TicketFactory(requester=source)

    actions.merge_customers(actor=agent_user, source=source, target=target)

    ticket.refresh_from_db()
    source.refresh_from_db()
    assert ticket.requester == target
    assert source.merged_into == target
    assert set(
        CustomerIdentity.objects.filter(customer=target).values_list("value", flat=True)
    ) == {"a@x.test", "b@x.test"}


def test_light_agent_cannot_merge_customers_and_nothing_changes(light_agent_user):
    source = CustomerFactory(email="a@x.test")
    target = CustomerFactory(email="b@x.test")

    with pytest.raises(PermissionDenied):
        actions.merge_customers(actor=light_agent_user, source=source, target=target)

    source.refresh_from_db()
    assert source.merged_into is None
    assert CustomerIdentity.objects.get(value="a@x.test").customer == source


def test_customer_tags_are_normalized_and_replaced(agent_user):
    customer = CustomerFactory()

    actions.update_customer(
        actor=agent_user, customer=customer, changes={"tags": ["VIP", "early adopter"]}
    )

    assert sorted(customer.tags.values_list("name", flat=True)) == ["early-adopter", "vip"]


def test_find_customer_by_identity_matches_exactly_and_respects_access(agent_user, customer_user):
    from concierge.customers.services import find_customer_by_identity

    other = CustomerFactory(email="exact@x.test")

    assert find_customer_by_identity(user=agent_user, kind="email", value="EXACT@x.test") == other
    assert find_customer_by_identity(user=agent_user, kind="email", value="exact@x") is None
    assert find_customer_by_identity(user=customer_user, kind="email", value="exact@x.test") is None
