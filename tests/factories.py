"""Factories for tests: real rows in the real database, no mocks."""

from __future__ import annotations

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from concierge.accounts.models import Availability, Role, Team, User
from concierge.customers.models import Customer, CustomerIdentity, IdentityKind, Organization
from concierge.tickets.models import Channel, CustomField, Entry, EntryKind, Ticket

PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"agent{n}@concierge.test")
    name = factory.Sequence(lambda n: f"Agent {n}")
    role = Role.AGENT
    availability = Availability.ONLINE
    password = factory.django.Password(PASSWORD)
    email_verified_at = factory.LazyFunction(timezone.now)


def make_agent(**kwargs: object) -> User:
    return UserFactory(role=Role.AGENT, **kwargs)


def make_admin(**kwargs: object) -> User:
    return UserFactory(role=Role.ADMIN, **kwargs)


def make_light_agent(**kwargs: object) -> User:
    return UserFactory(role=Role.LIGHT_AGENT, **kwargs)


class TeamFactory(DjangoModelFactory[Team]):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class OrganizationFactory(DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    domains = factory.LazyAttribute(lambda o: [o.name.lower().replace(" ", "") + ".example"])


class CustomerFactory(DjangoModelFactory[Customer]):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Customer {n}")
    organization = None

    @factory.post_generation
    def email(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        address = extracted or f"customer{self.pk}@customers.test"
        CustomerIdentity.objects.create(
            customer=self, kind=IdentityKind.EMAIL, value=address.lower(), is_primary=True
        )


def make_customer_user(organization: Organization | None = None, **kwargs: object) -> User:
    """A customer who can sign in to the portal (user + CRM record)."""
    customer = CustomerFactory(organization=organization, **kwargs)
    user = UserFactory(email=customer.primary_email, name=customer.name, role=Role.CUSTOMER)
    customer.user = user
    customer.save()
    return user


class TicketFactory(DjangoModelFactory[Ticket]):
    class Meta:
        model = Ticket
        skip_postgeneration_save = True

    subject = factory.Sequence(lambda n: f"Question number {n}")
    requester = factory.SubFactory(CustomerFactory)
    organization = factory.LazyAttribute(lambda t: t.requester.organization)
    channel = Channel.PORTAL

    @factory.post_generation
    def body(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        text = extracted or "Hello, I need help with my order."
        Entry.objects.create(
            ticket=self,
            kind=EntryKind.PUBLIC_REPLY,
            author_customer=self.requester,
            body_source=text,
            body_html=f"<p>{text}</p>",
            channel=self.channel,
        )


class EntryFactory(DjangoModelFactory[Entry]):
    class Meta:
        model = Entry

    ticket = factory.SubFactory(TicketFactory)
    kind = EntryKind.PUBLIC_REPLY
    body_source = "A reply."
    body_html = "<p>A reply.</p>"


class CustomFieldFactory(DjangoModelFactory[CustomField]):
    class Meta:
        model = CustomField

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"Field {n}")
    field_type = "text"
