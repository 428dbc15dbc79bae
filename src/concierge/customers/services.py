"""Reads of customers and organizations, each applying the access policy."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from concierge.core import policy
from concierge.core.errors import NotFound
from concierge.customers.models import Customer, CustomerIdentity, Organization


def customers_queryset() -> QuerySet[Customer]:
    return Customer.objects.select_related("organization").prefetch_related("identities", "tags")


def get_customer(*, user: Any, customer_id: int) -> Customer:
    """Gets a customer the user may see, or NotFound."""
    customer = customers_queryset().filter(pk=customer_id).first()
    if customer is None or not policy.can_view_customer(user, customer):
        raise NotFound("No such customer.")
    return customer


def list_customers(
    *, user: Any, text: str = "", organization_id: int | None = None
) -> QuerySet[Customer]:
    policy.require(policy.is_staff(user), "Only agents list customers.")
    queryset = customers_queryset().filter(merged_into__isnull=True)
    if organization_id:
        queryset = queryset.filter(organization_id=organization_id)
    if text := text.strip():
        queryset = queryset.filter(
            Q(name__icontains=text)
            | Q(pk__in=CustomerIdentity.objects.filter(value__icontains=text).values("customer_id"))
        )
    return queryset.order_by("name", "id")


def get_organization(*, user: Any, organization_id: int) -> Organization:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None or not policy.can_view_organization(user, organization):
        raise NotFound("No such organization.")
    return organization


def list_organizations(*, user: Any, text: str = "") -> QuerySet[Organization]:
    policy.require(policy.is_staff(user), "Only agents list organizations.")
    queryset = Organization.objects.annotate(customer_count=Count("customers"))
    if text := text.strip():
        queryset = queryset.filter(name__icontains=text)
    return queryset.order_by("name")


def find_customer_by_identity(*, user: Any, kind: str, value: str) -> Customer | None:
    """The customer who owns an exact identity (e.g. an email address), if the user may see them."""
    from concierge.customers.actions import normalize_identity

    identity = (
        CustomerIdentity.objects.select_related("customer__organization")
        .filter(kind=kind, value=normalize_identity(kind, value))
        .first()
    )
    if identity is None or not policy.can_view_customer(user, identity.customer):
        return None
    return identity.customer
