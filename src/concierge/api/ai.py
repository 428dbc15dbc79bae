"""AI triage: a ticket's predictions, corrections (labels), categories (admins), retraining."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from concierge.ai import actions, services
from concierge.ai.models import Category
from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core.errors import NotFound
from concierge.tickets import services as ticket_services

router = Router(tags=["triage"])


class PredictionOut(Schema):
    id: int
    ticket_id: int
    entry_id: int | None
    kind: str
    label: str
    effective_label: str
    score: float
    confidence: float
    model_version: str
    reasons: list[str]
    corrected_label: str
    corrected_by_id: int | None
    corrected_at: datetime | None
    created_at: datetime


class CorrectionIn(Schema):
    label: str = Field(..., min_length=1, max_length=100)


class CategoryOut(Schema):
    id: int
    name: str
    description: str
    examples: list[str] = Field(..., alias="example_list")
    is_active: bool


class CategoryIn(Schema):
    name: str = Field(..., max_length=100)
    description: str = Field("", max_length=500)
    examples: list[str] = Field(default_factory=list, max_length=200)
    is_active: bool = True


class CategoryPatch(Schema):
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=500)
    examples: list[str] | None = Field(None, max_length=200)
    is_active: bool | None = None


class RetrainOut(Schema):
    promoted: bool
    version: str = ""
    validation_score: float | None = None
    current_score: float | None = None
    reason: str = ""


@router.get(
    "/tickets/{int:ticket_id}/predictions",
    response={200: list[PredictionOut], **ERRORS},
    summary="Latest prediction of each kind on a ticket (staff)",
)
def ticket_predictions(request: HttpRequest, ticket_id: int) -> Any:
    user = current_user(request)
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    from concierge.core import policy

    policy.require(policy.can_view_predictions(user), "Predictions are for the support team.")
    return list(services.ticket_predictions(user=user, ticket=ticket).values())


@router.post(
    "/predictions/{int:prediction_id}/correction",
    response={200: PredictionOut, **ERRORS},
    summary="Correct (or confirm) a prediction; the label trains the next model (agents)",
)
def correct_prediction(
    request: HttpRequest,
    prediction_id: int,
    payload: CorrectionIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    user = current_user(request)
    prediction = services.get_prediction(user=user, prediction_id=prediction_id)

    def correct() -> tuple[int, dict[str, Any]]:
        corrected = actions.correct_prediction(
            actor=user, prediction=prediction, label=payload.label
        )
        return 200, dump(PredictionOut, corrected, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=correct)


def _category(user: Any, category_id: int) -> Category:
    category = (
        services.list_categories(user=user, include_inactive=True).filter(pk=category_id).first()
    )
    if category is None:
        raise NotFound("No such category.")
    return category


@router.get("/categories", response={200: list[CategoryOut], **ERRORS}, summary="List categories")
def list_categories(request: HttpRequest) -> Any:
    return services.list_categories(user=current_user(request), include_inactive=True)


@router.post(
    "/categories", response={201: CategoryOut, **ERRORS}, summary="Create a category (admins)"
)
def create_category(
    request: HttpRequest, payload: CategoryIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        category = actions.save_category(
            actor=user,
            name=payload.name,
            description=payload.description,
            examples="\n".join(payload.examples),
            is_active=payload.is_active,
        )
        return 201, dump(CategoryOut, category, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.patch(
    "/categories/{int:category_id}",
    response={200: CategoryOut, **ERRORS},
    summary="Update a category (admins)",
)
def update_category(request: HttpRequest, category_id: int, payload: CategoryPatch) -> Any:
    user = current_user(request)
    category = _category(user, category_id)
    return actions.save_category(
        actor=user,
        category=category,
        name=payload.name if payload.name is not None else category.name,
        description=(
            payload.description if payload.description is not None else category.description
        ),
        examples="\n".join(payload.examples) if payload.examples is not None else category.examples,
        is_active=payload.is_active if payload.is_active is not None else category.is_active,
    )


@router.delete(
    "/categories/{int:category_id}",
    response={204: None, **ERRORS},
    summary="Delete a category (admins)",
)
def delete_category(request: HttpRequest, category_id: int) -> Any:
    user = current_user(request)
    actions.delete_category(actor=user, category=_category(user, category_id))
    return 204, None


@router.post(
    "/retrain",
    response={200: RetrainOut, **ERRORS},
    summary="Retrain the intent model now; promoted only if it validates as well (admins)",
)
def retrain(request: HttpRequest, idempotency_key: str | None = IdempotencyKey) -> Any:
    # Not wrapped in idempotent_create: that holds a transaction (a write lock on
    # SQLite) for the whole training. A repeated retrain is harmless anyway: the
    # validation gate never promotes a worse model.
    outcome = actions.retrain(actor=current_user(request))
    return {
        "promoted": outcome.get("promoted", False),
        "version": outcome.get("version", ""),
        "validation_score": outcome.get("validation_score"),
        "current_score": outcome.get("current_score"),
        "reason": outcome.get("reason", ""),
    }
