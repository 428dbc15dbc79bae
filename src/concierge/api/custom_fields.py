"""Ticket custom fields: agents read them, admins define them."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, CustomFieldOut, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core.errors import NotFound
from concierge.tickets import actions, services
from concierge.tickets.models import CustomField

router = Router(tags=["custom fields"])

DETECT_DESCRIPTION = (
    "Dropdowns and multi-selects: AI triage fills the field, when it is empty, with the "
    "options a new ticket or customer message names."
)
PHRASES_DESCRIPTION = (
    "Option -> extra phrases that mean it (whole words, any case or accents); at most 50 "
    "per option, 100 characters each. Only existing options; omitted on update: kept for "
    "the options that remain."
)

FieldTypeName = Literal["text", "number", "dropdown", "multi_select", "checkbox", "date"]


class CustomFieldCreateIn(Schema):
    key: str = Field(..., max_length=64, description="Lower-case; cannot change later.")
    label: str = Field(..., max_length=100)
    field_type: FieldTypeName
    choices: list[str] = Field(default_factory=list, max_length=200)
    is_required_on_solve: bool = False
    is_customer_visible: bool = False
    is_active: bool = True
    position: int = Field(0, ge=0)
    description: str = Field("", max_length=255)
    detect_from_messages: bool = Field(False, description=DETECT_DESCRIPTION)
    detection_phrases: dict[str, list[str]] | None = Field(None, description=PHRASES_DESCRIPTION)


class CustomFieldUpdateIn(Schema):
    label: str | None = Field(None, max_length=100)
    choices: list[str] | None = Field(None, max_length=200)
    is_required_on_solve: bool | None = None
    is_customer_visible: bool | None = None
    is_active: bool | None = None
    position: int | None = Field(None, ge=0)
    description: str | None = Field(None, max_length=255)
    detect_from_messages: bool | None = Field(None, description=DETECT_DESCRIPTION)
    detection_phrases: dict[str, list[str]] | None = Field(None, description=PHRASES_DESCRIPTION)


def _field(user: Any, field_id: int) -> CustomField:
    field = (
        services.list_custom_fields(user=user, include_inactive=True).filter(pk=field_id).first()
    )
    if field is None:
        raise NotFound("No such custom field.")
    return field


@router.get("", response={200: list[CustomFieldOut], **ERRORS}, summary="List custom fields")
def list_custom_fields(request: HttpRequest, include_inactive: bool = Query(False)) -> Any:
    return services.list_custom_fields(
        user=current_user(request), include_inactive=include_inactive
    )


@router.post("", response={201: CustomFieldOut, **ERRORS}, summary="Create a custom field (admins)")
def create_custom_field(
    request: HttpRequest,
    payload: CustomFieldCreateIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        field = actions.save_custom_field(actor=user, **payload.model_dump())
        return 201, dump(CustomFieldOut, field, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.patch(
    "/{int:field_id}",
    response={200: CustomFieldOut, **ERRORS},
    summary="Update a custom field (admins)",
)
def update_custom_field(request: HttpRequest, field_id: int, payload: CustomFieldUpdateIn) -> Any:
    """Key and type are fixed once a field exists; everything else may change."""
    user = current_user(request)
    field = _field(user, field_id)
    sent = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    current = {
        "label": field.label,
        "choices": field.choices,
        "is_required_on_solve": field.is_required_on_solve,
        "is_customer_visible": field.is_customer_visible,
        "is_active": field.is_active,
        "position": field.position,
        "description": field.description,
        "detect_from_messages": field.detect_from_messages,
        "detection_phrases": None,  # kept for the options that remain
    }
    return actions.save_custom_field(
        actor=user, key=field.key, field_type=field.field_type, field=field, **{**current, **sent}
    )
