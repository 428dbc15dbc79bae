"""Customers, organizations, new tickets for a customer, and the header search."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from concierge.customers.models import Customer, CustomerIdentity
from concierge.tickets.models import Channel, Entry, Status, Ticket
from tests.conftest import signed_in_client
from tests.factories import (
    CustomerFactory,
    CustomFieldFactory,
    OrganizationFactory,
    TeamFactory,
    TicketFactory,
)

pytestmark = pytest.mark.django_db


def test_customer_list_searches_by_name_and_email(agent_user):
    CustomerFactory(name="Grace Hopper", email="grace@navy.test")
    CustomerFactory(name="Alan Turing", email="alan@bletchley.test")
    client = signed_in_client(agent_user)

    by_name = client.get("/customers/?q=grace").content.decode()
    by_email = client.get("/customers/?q=bletchley").content.decode()

    assert "Grace Hopper" in by_name and "Alan Turing" not in by_name
    assert "Alan Turing" in by_email and "Grace Hopper" not in by_email


def test_customer_page_shows_identities_org_and_tickets(agent_user):
    organization = OrganizationFactory(name="Acme")
    customer = CustomerFactory(name="Wile E.", organization=organization, email="wile@acme.test")
    ticket = TicketFactory(requester=customer, subject="Rocket skates")

    content = signed_in_client(agent_user).get(f"/customers/{customer.pk}/").content.decode()

    assert "wile@acme.test" in content and "Acme" in content
    assert f"#{ticket.pk}" in content and "Rocket skates" in content


def test_agent_edits_a_customer(agent_user):
    organization = OrganizationFactory()
    customer = CustomerFactory(name="Old name")

    response = signed_in_client(agent_user).post(
        f"/customers/{customer.pk}/edit/",
        {
            "name": "New name",
            "organization": organization.pk,
            "language": "fr",
            "time_zone": "Europe/Paris",
            "notes": "VIP",
        },
    )

    assert response["Location"] == f"/customers/{customer.pk}/"
    customer.refresh_from_db()
    assert (customer.name, customer.organization, customer.language, customer.notes) == (
        "New name",
        organization,
        "fr",
        "VIP",
    )


def test_light_agent_cannot_edit_a_customer_and_nothing_changes(light_agent_user):
    customer = CustomerFactory(name="Keep me")

    response = signed_in_client(light_agent_user).post(
        f"/customers/{customer.pk}/edit/", {"name": "Changed", "language": "en", "time_zone": "UTC"}
    )

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Keep me"


def test_agent_merges_a_customer_into_another_by_email(agent_user):
    source = CustomerFactory(name="Duplicate", email="dup@customers.test")
    target = CustomerFactory(name="Original", email="orig@customers.test")
    ticket = TicketFactory(requester=source)

    response = signed_in_client(agent_user).post(
        f"/customers/{source.pk}/merge/", {"target": "ORIG@customers.test"}
    )

    assert response["Location"] == f"/customers/{target.pk}/"
    source.refresh_from_db()
    ticket.refresh_from_db()
    assert source.merged_into == target
    assert ticket.requester == target
    assert CustomerIdentity.objects.get(value="dup@customers.test").customer == target


def test_merge_into_unknown_customer_explains_and_changes_nothing(agent_user):
    source = CustomerFactory()

    response = signed_in_client(agent_user).post(
        f"/customers/{source.pk}/merge/", {"target": "999999"}
    )

    assert response.status_code == 400
    assert b"No customer with this ID or email." in response.content
    source.refresh_from_db()
    assert source.merged_into is None


def test_organization_list_and_page(agent_user):
    organization = OrganizationFactory(name="Initech")
    member = CustomerFactory(name="Peter", organization=organization)
    ticket = TicketFactory(requester=member, subject="TPS reports")
    client = signed_in_client(agent_user)

    listing = client.get("/organizations/").content.decode()
    detail = client.get(f"/organizations/{organization.pk}/").content.decode()

    assert "Initech" in listing
    assert "Peter" in detail and f"#{ticket.pk}" in detail


def test_agent_creates_a_phone_ticket_for_a_customer(agent_user):
    customer = CustomerFactory()
    team = TeamFactory()
    CustomFieldFactory(key="plan", label="Plan", field_type="dropdown", choices=["free", "pro"])
    client = signed_in_client(agent_user)

    form = client.get(f"/tickets/new/?customer={customer.pk}")
    response = client.post(
        f"/tickets/new/?customer={customer.pk}",
        {
            "subject": "Called about invoice",
            "body": "Customer called.",
            "channel": "phone",
            "priority": "high",
            "assignee": agent_user.pk,
            "team": team.pk,
            "tags": "billing",
            "cf_plan": "pro",
            "attachments": [SimpleUploadedFile("call.txt", b"notes")],
        },
    )

    assert form.status_code == 200
    ticket = Ticket.objects.get(subject="Called about invoice")
    assert response["Location"] == f"/tickets/{ticket.pk}/"
    assert (ticket.requester, ticket.channel, ticket.priority, ticket.assignee, ticket.team) == (
        customer,
        Channel.PHONE,
        "high",
        agent_user,
        team,
    )
    assert ticket.status == Status.OPEN
    assert ticket.custom_fields == {"plan": "pro"}
    assert list(ticket.tags.values_list("name", flat=True)) == ["billing"]
    assert Entry.objects.get(ticket=ticket).attachments.get().filename == "call.txt"


def test_light_agent_cannot_create_tickets(light_agent_user):
    customer = CustomerFactory()

    response = signed_in_client(light_agent_user).post(
        f"/tickets/new/?customer={customer.pk}",
        {"subject": "X", "body": "Y", "channel": "web", "priority": "normal"},
    )

    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_search_jumps_to_a_ticket_number(agent_user):
    ticket = TicketFactory()

    response = signed_in_client(agent_user).get(f"/search/?q=%23{ticket.pk}")

    assert response["Location"] == f"/tickets/{ticket.pk}/"


def test_search_finds_tickets_and_customers(agent_user):
    customer = CustomerFactory(name="Zebra Corp contact")
    ticket = TicketFactory(subject="Zebra stripes fading")
    TicketFactory(subject="Unrelated")
    # Factories write rows directly, bypassing the actions that index on save.
    call_command("rebuild_search_index", verbosity=0)

    content = signed_in_client(agent_user).get("/search/?q=zebra").content.decode()

    assert f'data-ticket-id="{ticket.pk}"' in content
    assert "Unrelated" not in content
    # The matching word is highlighted: <mark>Zebra</mark> Corp contact.
    assert f'href="{reverse("workspace:customer", args=[customer.pk])}"' in content
    assert "<mark>Zebra</mark> Corp contact" in content
    assert Customer.objects.count() >= 2
