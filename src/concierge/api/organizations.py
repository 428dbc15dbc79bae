"""Organizations: the companies customers belong to."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, OrganizationOut, dump
from concierge.api.tickets import IdempotencyKey
from concierge.customers import actions, services

router = Router(tags=["organizations"])

PAGE_MAX = 100


class OrganizationCreateIn(Schema):
    name: str = Field(..., max_length=200)
    domains: list[str] = Field(default_factory=list, max_length=100)
    notes: str = Field("", max_length=10_000)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    members_see_all_requests: bool = Field(
        False, description="Members see all the organization's tickets (admins only)."
    )


class OrganizationUpdateIn(Schema):
    name: str | None = Field(None, max_length=200)
    domains: list[str] | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=10_000)
    custom_attributes: dict[str, Any] | None = None
    members_see_all_requests: bool | None = Field(None, description="Admins only.")


class OrganizationPage(Schema):
    items: list[OrganizationOut]
    next_offset: int | None


@router.get("", response={200: OrganizationPage, **ERRORS}, summary="List organizations")
def list_organizations(
    request: HttpRequest,
    q: str = Query("", max_length=200),
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=PAGE_MAX),
) -> dict[str, Any]:
    organizations = services.list_organizations(user=current_user(request), text=q)
    rows = list(organizations[offset : offset + limit + 1])
    return {"items": rows[:limit], "next_offset": offset + limit if len(rows) > limit else None}


@router.post("", response={201: OrganizationOut, **ERRORS}, summary="Create an organization")
def create_organization(
    request: HttpRequest,
    payload: OrganizationCreateIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        changes = payload.model_dump()
        if not changes["members_see_all_requests"]:
            del changes["members_see_all_requests"]  # the default; needs no admin
        organization = actions.save_organization(actor=user, changes=changes)
        return 201, dump(OrganizationOut, organization, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get(
    "/{int:organization_id}",
    response={200: OrganizationOut, **ERRORS},
    summary="Get an organization",
)
def get_organization(request: HttpRequest, organization_id: int) -> Any:
    return services.get_organization(user=current_user(request), organization_id=organization_id)


@router.patch(
    "/{int:organization_id}",
    response={200: OrganizationOut, **ERRORS},
    summary="Update an organization",
)
def update_organization(
    request: HttpRequest, organization_id: int, payload: OrganizationUpdateIn
) -> Any:
    user = current_user(request)
    organization = services.get_organization(user=user, organization_id=organization_id)
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return actions.save_organization(actor=user, changes=changes, organization=organization)
