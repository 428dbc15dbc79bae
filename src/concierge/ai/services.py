"""Reads for triage: predictions on a ticket, categories, the active model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from concierge.ai.models import OUT_OF_SCOPE, Category, Prediction, PredictionKind, TriageModel
from concierge.core import policy

if TYPE_CHECKING:
    from concierge.tickets.models import Ticket


@dataclass(frozen=True)
class TicketLabel:
    """What a ticket list shows of one prediction."""

    label: str
    confidence: float
    corrected: bool  # an agent set the label


def _latest_per_kind(ticket_id: int) -> dict[str, Prediction]:
    latest: dict[str, Prediction] = {}
    rows = (
        Prediction.objects.filter(ticket_id=ticket_id)
        .select_related("corrected_by")
        .order_by("-created_at", "-id")
    )
    for prediction in rows:
        latest.setdefault(prediction.kind, prediction)
    return latest


def ticket_predictions(*, user: Any, ticket: Ticket) -> dict[str, Prediction]:
    """The latest prediction of each kind on a ticket; empty for anyone who may not see them."""
    if not policy.can_view_predictions(user) or not policy.can_view_ticket(user, ticket):
        return {}
    return _latest_per_kind(ticket.pk)


def effective_labels(ticket_id: int) -> dict[str, tuple[str, float]]:
    """kind -> (label, confidence), agent corrections winning; for domain code (no access check).

    A corrected label counts as certain (confidence 1.0).
    """
    latest = _latest_labels([ticket_id]).get(ticket_id, {})
    return {
        kind: (item.label, 1.0 if item.corrected else item.confidence)
        for kind, item in latest.items()
    }


def labels_for_tickets(
    *, user: Any, ticket_ids: Sequence[int], kinds: Sequence[str]
) -> dict[int, dict[str, TicketLabel]]:
    """ticket id -> kind -> its latest label, for a list of tickets the user already sees.

    One query for the page. Empty for anyone who may not see predictions.
    """
    if not ticket_ids or not kinds or not policy.can_view_predictions(user):
        return {}
    return _latest_labels(ticket_ids, kinds)


def _latest_labels(
    ticket_ids: Sequence[int], kinds: Sequence[str] | None = None
) -> dict[int, dict[str, TicketLabel]]:
    """ticket id -> kind -> the latest prediction's label, an agent's correction winning.

    One query; the confidence stays the model's (TicketLabel.corrected says
    an agent set the label).
    """
    rows = Prediction.objects.filter(ticket_id__in=list(ticket_ids))
    if kinds is not None:
        rows = rows.filter(kind__in=list(kinds))
    found: dict[int, dict[str, TicketLabel]] = {}
    for ticket_id, kind, label, confidence, corrected in rows.order_by(
        "ticket_id", "kind", "-created_at", "-id"
    ).values_list("ticket_id", "kind", "label", "confidence", "corrected_label"):
        per_ticket = found.setdefault(ticket_id, {})
        if kind not in per_ticket:  # the first row of each kind is the latest
            per_ticket[kind] = TicketLabel(corrected or label, confidence, bool(corrected))
    return found


def get_prediction(*, user: Any, prediction_id: int) -> Prediction:
    """One prediction, if the user may see it (NotFound otherwise, so ids do not leak)."""
    from concierge.core.errors import NotFound

    prediction = Prediction.objects.select_related("ticket").filter(pk=prediction_id).first()
    if (
        prediction is None
        or not policy.can_view_predictions(user)
        or not policy.can_view_ticket(user, prediction.ticket)
    ):
        raise NotFound("No such prediction.")
    return prediction


def list_categories(*, user: Any, include_inactive: bool = False) -> QuerySet[Category]:
    """The team's categories (staff see them to correct predictions; admins edit them)."""
    policy.require(policy.can_view_predictions(user))
    categories = Category.objects.all()
    if not include_inactive:
        categories = categories.filter(is_active=True)
    return categories


def display_label(label: str) -> str:
    """A label as agents read it: the out-of-scope answer is "none of these"."""
    return "none of these" if label == OUT_OF_SCOPE else label


def label_choices(kind: str) -> list[str]:
    """The labels an agent may pick when correcting a prediction of ``kind``."""
    from concierge.ai import models as ai_models

    if kind == PredictionKind.INTENT:
        names = list(Category.objects.filter(is_active=True).values_list("name", flat=True))
        return [*names, ai_models.OUT_OF_SCOPE]
    if kind == PredictionKind.SENTIMENT:
        return list(ai_models.SENTIMENT_LABELS)
    if kind == PredictionKind.URGENCY:
        return list(ai_models.URGENCY_LABELS)
    if kind == PredictionKind.ABUSE:
        return list(ai_models.ABUSE_LABELS)
    if kind == PredictionKind.SPAM:
        return list(ai_models.SPAM_LABELS)
    return []  # language: any code


def active_model(*, user: Any) -> TriageModel | None:
    policy.require(policy.can_manage_triage(user))
    return TriageModel.objects.filter(is_active=True).first()


def list_models(*, user: Any) -> QuerySet[TriageModel]:
    policy.require(policy.can_manage_triage(user))
    return TriageModel.objects.defer("artifact")


def filter_by_predictions(queryset: QuerySet[Any], predictions: dict[str, str]) -> QuerySet[Any]:
    """Tickets whose latest prediction of each given kind has that effective label.

    The latest row per kind wins (a ticket whose last message turned positive
    is no longer "negative"); an agent's correction counts over the model's label.
    """
    from django.db.models import OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce, NullIf

    for index, (kind, label) in enumerate(sorted(predictions.items())):
        latest = (
            Prediction.objects.filter(ticket_id=OuterRef("pk"), kind=kind)
            .order_by("-created_at", "-id")
            .annotate(effective=Coalesce(NullIf("corrected_label", Value("")), "label"))
            .values("effective")[:1]
        )
        alias = f"_prediction_{index}"
        queryset = queryset.alias(**{alias: Subquery(latest)}).filter(**{alias: label})
    return queryset
