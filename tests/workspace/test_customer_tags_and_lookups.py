"""Customer tags on the customer page, and exact identity lookups for CCs and merge targets."""

from __future__ import annotations

import pytest

from concierge.core.models import Tag
from concierge.tickets.models import Ticket
from tests.conftest import signed_in_client
from tests.factories import CustomerFactory, TicketFactory

pytestmark = pytest.mark.django_db


def customer_data(customer, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": customer.name,
        "organization": "",
        "language": "",
        "time_zone": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def tag_names(customer) -> list[str]:
    return sorted(tag.name for tag in customer.tags.all())


def test_agent_sets_customer_tags_typed_with_commas_and_spaces(agent_user):
    customer = CustomerFactory()
    customer.tags.add(Tag.objects.create(name="old"))
    client = signed_in_client(agent_user)

    response = client.post(
        f"/customers/{customer.pk}/edit/", customer_data(customer, tags="VIP, Beta  vip,churn-risk")
    )
    page = client.get(f"/customers/{customer.pk}/").content.decode()

    assert response["Location"] == f"/customers/{customer.pk}/"
    assert tag_names(customer) == ["beta", "churn-risk", "vip"]
    assert 'name="tags" value="beta churn-risk vip"' in page


def test_invalid_customer_tag_is_explained_and_nothing_changes(agent_user):
    customer = CustomerFactory(name="Keep")
    customer.tags.add(Tag.objects.create(name="kept"))

    response = signed_in_client(agent_user).post(
        f"/customers/{customer.pk}/edit/", customer_data(customer, name="Changed", tags="ok b@d")
    )

    assert response.status_code == 422
    content = response.content.decode()
    assert "Invalid tag" in content
    assert 'value="ok b@d"' in content
    customer.refresh_from_db()
    assert customer.name == "Keep"
    assert tag_names(customer) == ["kept"]


def test_light_agent_cannot_edit_customer_tags_and_nothing_changes(light_agent_user):
    customer = CustomerFactory()
    customer.tags.add(Tag.objects.create(name="kept"))

    response = signed_in_client(light_agent_user).post(
        f"/customers/{customer.pk}/edit/", customer_data(customer, tags="hacked")
    )

    assert response.status_code == 403
    assert tag_names(customer) == ["kept"]
    assert not Tag.objects.filter(name="hacked").exists()


def test_customer_edit_without_the_tags_field_keeps_the_tags(agent_user):
    customer = CustomerFactory()
    customer.tags.add(Tag.objects.create(name="kept"))

    signed_in_client(agent_user).post(
        f"/customers/{customer.pk}/edit/", customer_data(customer, name="Renamed")
    )

    customer.refresh_from_db()
    assert customer.name == "Renamed"
    assert tag_names(customer) == ["kept"]


def test_cc_must_match_a_whole_email_not_part_of_one(agent_user):
    CustomerFactory(email="joann@acme.test")
    ann = CustomerFactory(email="ann@acme.test")
    ticket = TicketFactory()
    client = signed_in_client(agent_user)
    base = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": "",
        "team": "",
        "tags": "",
        "due_at": "",
    }

    partial = client.post(f"/tickets/{ticket.pk}/properties/", {**base, "ccs": "nn@acme.test"})
    exact = client.post(f"/tickets/{ticket.pk}/properties/", {**base, "ccs": "Ann@Acme.test"})

    assert partial.status_code == 400
    assert b"No customer with: nn@acme.test" in partial.content
    assert exact.status_code == 302
    assert list(Ticket.objects.get(pk=ticket.pk).ccs.all()) == [ann]


def test_merge_target_email_must_match_exactly(agent_user):
    source = CustomerFactory(email="dup@customers.test")
    CustomerFactory(email="someone.orig@customers.test")

    response = signed_in_client(agent_user).post(
        f"/customers/{source.pk}/merge/", {"target": "orig@customers.test"}
    )

    assert response.status_code == 400
    assert b"No customer with this ID or email." in response.content
    source.refresh_from_db()
    assert source.merged_into is None
