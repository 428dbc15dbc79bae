"""Customers: the CRM records of the people who write to us."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, CustomerOut, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core.errors import NotFound, ValidationFailed
from concierge.customers import actions, services
from concierge.customers.models import Organization

router = Router(tags=["customers"])

PAGE_MAX = 100


class CustomerCreateIn(Schema):
    name: str = Field(..., max_length=200)
    email: str = Field("", max_length=320)
    phone: str = Field("", max_length=64)
    organization_id: int | None = Field(
        None, description="Defaults to the organization owning the email's domain."
    )
    language: str = Field("en", max_length=16)
    time_zone: str = Field("UTC", max_length=64)
    notes: str = Field("", max_length=10_000)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


class CustomerUpdateIn(Schema):
    name: str | None = Field(None, max_length=200)
    organization_id: int | None = None
    language: str | None = Field(None, max_length=16)
    time_zone: str | None = Field(None, max_length=64)
    notes: str | None = Field(None, max_length=10_000)
    custom_attributes: dict[str, Any] | None = None


class CustomerMergeIn(Schema):
    source_id: int = Field(..., description="The customer merged into this one.")


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_offset: int | None


def _organization(user: Any, organization_id: int | None) -> Organization | None:
    if organization_id is None:
        return None
    try:
        return services.get_organization(user=user, organization_id=organization_id)
    except NotFound as error:
        raise ValidationFailed(
            "No such organization.", field_errors={"organization_id": ["No such organization."]}
        ) from error


@router.get("", response={200: CustomerPage, **ERRORS}, summary="List customers")
def list_customers(
    request: HttpRequest,
    q: str = Query("", max_length=200, description="Name, email or other identity."),
    organization: int | None = Query(None, description="An organization id."),
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=PAGE_MAX),
) -> dict[str, Any]:
    customers = services.list_customers(
        user=current_user(request), text=q, organization_id=organization
    )
    rows = list(customers[offset : offset + limit + 1])
    return {"items": rows[:limit], "next_offset": offset + limit if len(rows) > limit else None}


@router.post("", response={201: CustomerOut, **ERRORS}, summary="Create a customer")
def create_customer(
    request: HttpRequest, payload: CustomerCreateIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        customer = actions.create_customer(
            actor=user,
            name=payload.name,
            email=payload.email,
            phone=payload.phone,
            organization=_organization(user, payload.organization_id),
            language=payload.language,
            time_zone=payload.time_zone,
            notes=payload.notes,
            custom_attributes=payload.custom_attributes,
        )
        fresh = services.get_customer(user=user, customer_id=customer.pk)
        return 201, dump(CustomerOut, fresh, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get("/{int:customer_id}", response={200: CustomerOut, **ERRORS}, summary="Get a customer")
def get_customer(request: HttpRequest, customer_id: int) -> Any:
    return services.get_customer(user=current_user(request), customer_id=customer_id)


@router.patch(
    "/{int:customer_id}", response={200: CustomerOut, **ERRORS}, summary="Update a customer"
)
def update_customer(request: HttpRequest, customer_id: int, payload: CustomerUpdateIn) -> Any:
    user = current_user(request)
    customer = services.get_customer(user=user, customer_id=customer_id)
    changes = payload.model_dump(exclude_unset=True)
    if "organization_id" in changes:
        changes["organization"] = _organization(user, changes.pop("organization_id"))
    for name in ("name", "language", "time_zone", "notes", "custom_attributes"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null.", field_errors={name: ["Required."]})
    actions.update_customer(actor=user, customer=customer, changes=changes)
    return services.get_customer(user=user, customer_id=customer_id)


@router.post(
    "/{int:customer_id}/merge",
    response={200: CustomerOut, **ERRORS},
    summary="Merge a customer into this one",
)
def merge_customer(
    request: HttpRequest,
    customer_id: int,
    payload: CustomerMergeIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Moves the source's identities, tickets and tags here; the source points to this record."""
    user = current_user(request)

    def merge() -> tuple[int, dict[str, Any]]:
        target = services.get_customer(user=user, customer_id=customer_id)
        source = services.get_customer(user=user, customer_id=payload.source_id)
        actions.merge_customers(actor=user, source=source, target=target)
        return 200, dump(
            CustomerOut, services.get_customer(user=user, customer_id=customer_id), request
        )

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=merge)
