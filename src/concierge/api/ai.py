"""AI triage: a ticket's predictions, corrections (labels), categories (admins), retraining."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from ninja import Field, Router, Schema

from concierge.ai import actions, services
from concierge.ai.models import Category
from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core import policy
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
    field_key: str = Field(
        "", description="Kind `entity`: the key of the custom field whose options were found."
    )
    field_value: str | list[str] | None = Field(
        None, description="Kind `entity`: the value found (an option, or a multi-select's list)."
    )


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


class RetrainResultOut(Schema):
    promoted: bool = Field(
        ...,
        description="True when the new model validated at least as well as the current one "
        "and is now the active model; false when the current model stays (see `reason`).",
    )
    version: str = Field("", description="The new model's version, when one was trained.")
    validation_score: float | None = Field(
        None, description="The new model's accuracy on the held-out validation labels."
    )
    current_version: str = ""
    current_score: float | None = Field(
        None, description="The model in use before, scored on the same validation labels."
    )
    training_examples: int | None = None
    validation_examples: int | None = None
    out_of_scope_examples: int | None = Field(
        None,
        description="Intent models: labels of 'none of these' (out_of_scope). They train no "
        "category; with the validation labels they set `out_of_scope_threshold`.",
    )
    out_of_scope_threshold: float | None = Field(
        None,
        description="Intent models: the score (confidence less the distance from every "
        "category) below which the answer is out_of_scope; 0 = never.",
    )
    reason: str = Field("", description="Why nothing was trained or promoted, if so.")


class RetrainJobOut(Schema):
    id: str | None = Field(
        None, description="The run's id: tells a run you asked for from a later one."
    )
    state: Literal["idle", "queued", "running", "finished", "failed"] = Field(
        ...,
        description="`idle`: no run recorded yet; `queued` / `running`: in "
        "progress (poll the status); `finished`: see `result`; `failed`: see `error`.",
    )
    requested_by: str = Field("", description="Who queued it (empty for automatic runs).")
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: RetrainResultOut | None = Field(None, description="Set when `state` is `finished`.")
    error: str = Field("", description="Set when `state` is `failed`.")


RETRAIN_STALE_ERROR = "The run stopped reporting progress (was the task worker stopped?)."


@router.get(
    "/tickets/{int:ticket_id}/predictions",
    response={200: list[PredictionOut], **ERRORS},
    summary="Latest prediction of each kind on a ticket (staff)",
)
def ticket_predictions(request: HttpRequest, ticket_id: int) -> Any:
    user = current_user(request)
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
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
    """An `entity` prediction's label is one of its field's options (or `out_of_scope`:
    none of them); the correction sets the ticket's field to it."""
    user = current_user(request)
    prediction = services.get_prediction(user=user, prediction_id=prediction_id)

    def correct() -> tuple[int, dict[str, Any]]:
        corrected = actions.correct_prediction(
            actor=user, prediction=prediction, label=payload.label
        )
        return 200, dump(PredictionOut, corrected, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=correct)


class TryIn(Schema):
    # A generous guard only: the domain refuses more than ai.actions.MAX_TEXT_CHARS
    # with a message naming that limit.
    text: str = Field(..., max_length=100_000, description="A customer's message.")


class TriedOut(Schema):
    kind: str
    label: str
    confidence: float
    score: float
    model_version: str
    reasons: list[str]


@router.post(
    "/try",
    response={200: list[TriedOut], **ERRORS},
    summary="What triage would predict for a message, every kind; nothing is stored (admins)",
)
def try_triage(
    request: HttpRequest, payload: TryIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    user = current_user(request)

    def run() -> tuple[int, list[dict[str, Any]]]:
        # Nothing is stored; a retried key replays the first answer, as on every POST.
        results = actions.try_triage(actor=user, text=payload.text)
        return 200, [{"kind": kind, **asdict(result)} for kind, result in results.items()]

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=run)


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


def _retrain_job(status: dict[str, Any]) -> dict[str, Any]:
    """The stored retrain status (``ai.actions.retrain_status``) as the API's job resource."""
    state = {"done": "finished"}.get(status.get("state", ""), status.get("state") or "idle")
    error = status.get("error", "")
    if status.get("is_stale"):
        state, error = "failed", RETRAIN_STALE_ERROR
    outcome = status.get("outcome") if state == "finished" else None
    return {
        "id": status.get("id"),
        "state": state,
        "requested_by": status.get("requested_by", ""),
        "queued_at": status.get("queued_at"),
        "started_at": status.get("started_at"),
        "finished_at": status.get("finished_at"),
        "result": {"promoted": False, **outcome} if isinstance(outcome, dict) else None,
        "error": error if state == "failed" else "",
    }


RETRAIN_DESCRIPTION = """
Starts training a new intent model on the agents' labels, in the background (it can take
minutes on a big desk), and answers at once with the run:

* **202 Accepted**: this request queued a new run;
* **200 OK**: a run was already queued or running; no second one is started, and the body
  is that run.

Follow it with `GET /api/v1/triage/retrain/status` (also in the `Location` header) until
`state` is `finished` (the new model's validation score, and whether it was promoted to be
the active model) or `failed` (with an `error`). An `Idempotency-Key` replays the first
answer (the same run id) instead of asking again. Admins only.
"""


@router.post(
    "/retrain",
    response={200: RetrainJobOut, 202: RetrainJobOut, **ERRORS},
    summary="Start retraining the intent model in the background (admins)",
    description=RETRAIN_DESCRIPTION.strip(),
)
def retrain(request: HttpRequest, idempotency_key: str | None = IdempotencyKey) -> HttpResponse:
    user = current_user(request)

    def start() -> tuple[int, dict[str, Any]]:
        started = actions.request_retrain(actor=user)
        job = dump(RetrainJobOut, _retrain_job(actions.retrain_status()), request)
        return (202 if started else 200), job

    response = idempotent_create(request, payload={}, create=start)
    response["Location"] = reverse("api:retrain_status")
    return response


@router.get(
    "/retrain/status",
    response={200: RetrainJobOut, **ERRORS},
    summary="The latest retrain run: queued, running, finished or failed (admins)",
)
def retrain_status(request: HttpRequest) -> HttpResponse:
    policy.require(
        policy.can_manage_triage(current_user(request)), "Only admins may follow retraining."
    )
    # Serialized like the POST's answer (``dump``), so the two compare equal to the microsecond.
    return JsonResponse(dump(RetrainJobOut, _retrain_job(actions.retrain_status()), request))


class LabelCountOut(Schema):
    label: str
    tickets: int
    share: float
    previous_tickets: int = Field(..., description="The same count over the period before.")
    mean_confidence: float


class CategoryReviewOut(Schema):
    label: str
    reviewed: int
    kept: int
    moved_in: int


class ConfusionOut(Schema):
    predicted: str
    corrected: str
    count: int


class SentimentDayOut(Schema):
    day: date
    negative: int
    neutral: int
    positive: int


class TriageReportOut(Schema):
    days: int
    start: datetime
    end: datetime
    tickets: int = Field(..., description="Requests created in the period.")
    categories: list[LabelCountOut]
    reviewed: int = Field(..., description="Intent predictions agents reviewed in the period.")
    agreed: int = Field(..., description="... of which they kept the predicted label.")
    reviews: list[CategoryReviewOut]
    confusions: list[ConfusionOut]
    sentiment_by_day: list[SentimentDayOut]
    sentiment: list[LabelCountOut]
    languages: list[LabelCountOut]
    urgency: list[LabelCountOut]


@router.get(
    "/report",
    response={200: TriageReportOut, **ERRORS},
    summary="What new requests were about, and how often agents kept the category (admins)",
)
def triage_report(request: HttpRequest, days: int = 30) -> Any:
    """Each request created in the last ``days`` (1-365) counted once, by its latest
    prediction of each kind; reviews are the agents' confirmations and changes of category
    predictions in the period."""
    return services.triage_report(user=current_user(request), days=days)
