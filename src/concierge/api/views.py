"""Saved inbox views: each agent's own plus the shared ones (admins manage shared views)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, SavedViewOut, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core.errors import NotFound
from concierge.tickets import actions, services
from concierge.tickets.models import SavedView

router = Router(tags=["views"])

FILTERS_DESCRIPTION = (
    "Same keys as the ticket list filters: status, priority, channel, assignee, team, "
    "requester, organization, tags, exclude_tags, custom_fields."
)


class SavedViewCreateIn(Schema):
    name: str = Field(..., max_length=100)
    filters: dict[str, Any] = Field(default_factory=dict, description=FILTERS_DESCRIPTION)
    sort: str = "-updated_at"
    columns: list[str] = Field(default_factory=list, max_length=20)
    position: int = Field(0, ge=0)
    shared: bool = Field(
        True, description="Shared with the whole team (admins only) or the caller's own view."
    )


class SavedViewUpdateIn(Schema):
    name: str | None = Field(None, max_length=100)
    filters: dict[str, Any] | None = Field(None, description=FILTERS_DESCRIPTION)
    sort: str | None = None
    columns: list[str] | None = Field(None, max_length=20)
    position: int | None = Field(None, ge=0)


def _view(user: Any, view_id: int) -> SavedView:
    view = services.saved_views_for(user=user).filter(pk=view_id).first()
    if view is None:
        raise NotFound("No such view.")
    return view


@router.get("", response={200: list[SavedViewOut], **ERRORS}, summary="List saved views")
def list_views(request: HttpRequest) -> Any:
    """The caller's own views and the shared ones."""
    return services.saved_views_for(user=current_user(request))


@router.post("", response={201: SavedViewOut, **ERRORS}, summary="Create a view (shared: admins)")
def create_view(
    request: HttpRequest, payload: SavedViewCreateIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        view = actions.save_saved_view(actor=user, **payload.model_dump())
        return 201, dump(SavedViewOut, view, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.patch(
    "/{int:view_id}",
    response={200: SavedViewOut, **ERRORS},
    summary="Update a view (shared: admins; own: its owner)",
)
def update_view(request: HttpRequest, view_id: int, payload: SavedViewUpdateIn) -> Any:
    user = current_user(request)
    view = _view(user, view_id)
    current = {
        "name": view.name,
        "filters": view.filters,
        "sort": view.sort,
        "columns": view.columns,
        "position": view.position,
    }
    sent = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return actions.save_saved_view(actor=user, view=view, **{**current, **sent})


@router.delete(
    "/{int:view_id}",
    response={204: None, **ERRORS},
    summary="Delete a view (shared: admins; own: its owner)",
)
def delete_view(request: HttpRequest, view_id: int) -> HttpResponse:
    user = current_user(request)
    actions.delete_saved_view(actor=user, view=_view(user, view_id))
    return HttpResponse(status=204)
