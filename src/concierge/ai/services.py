"""Reads for triage: predictions on a ticket, categories, the active model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from concierge.ai.models import (
    LABELLED_HISTORY,
    MODEL_KINDS,
    OUT_OF_SCOPE,
    Category,
    Prediction,
    PredictionKind,
    TriageModel,
)
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
        latest.setdefault(prediction.slot, prediction)
    return latest


def ticket_predictions(*, user: Any, ticket: Ticket) -> dict[str, Prediction]:
    """The latest prediction of each kind on a ticket; empty for anyone who may not see them.

    Keyed by ``Prediction.slot``: the kind, and ``entity:<field key>`` for each
    detected custom field.
    """
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
    # Entities are per field, not one per kind: they are the ticket's field values.
    rows = rows.filter(kind__in=list(kinds if kinds is not None else MODEL_KINDS))
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


def label_choices(kind: str, field_key: str = "") -> list[str]:
    """The labels an agent may pick when correcting a prediction of ``kind``.

    An entity's are its field's options and "none of these" (none is mentioned).
    """
    from concierge.ai import models as ai_models

    if kind == PredictionKind.ENTITY:
        from concierge.tickets.models import CustomField

        field = CustomField.objects.filter(key=field_key, is_active=True).first()
        return [*field.choices, ai_models.OUT_OF_SCOPE] if field is not None else []
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


def field_labels(field_keys: Sequence[str]) -> dict[str, str]:
    """Custom field key -> label, to name entity predictions (deleted fields are missing)."""
    from concierge.tickets.models import CustomField

    return dict(CustomField.objects.filter(key__in=list(field_keys)).values_list("key", "label"))


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


# --- the triage report: what customers write about, and how often agents agree -----------------

#: The periods the report offers, in days (the API accepts any up to the longest).
REPORT_PERIODS = (7, 30, 90)
REPORT_MAX_DAYS = 365


@dataclass(frozen=True)
class LabelCount:
    """Tickets of the period whose latest prediction of one kind has this label."""

    label: str
    tickets: int
    share: float  # of the period's tickets with a prediction of that kind
    previous_tickets: int  # the same count over the period before
    mean_confidence: float  # the model's, over these tickets

    @property
    def display(self) -> str:
        return display_label(self.label)


@dataclass(frozen=True)
class CategoryReview:
    """Agents' reviews of the period's intent predictions, for one label."""

    label: str
    reviewed: int  # predictions of this label an agent reviewed
    kept: int  # ... and left as they were (confirmed)
    moved_in: int  # reviewed predictions of another label an agent changed to this one

    @property
    def display(self) -> str:
        return display_label(self.label)

    @property
    def kept_share(self) -> float | None:
        return self.kept / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class Confusion:
    predicted: str
    corrected: str
    count: int

    @property
    def predicted_display(self) -> str:
        return display_label(self.predicted)

    @property
    def corrected_display(self) -> str:
        return display_label(self.corrected)


@dataclass(frozen=True)
class SentimentDay:
    day: Any  # a date
    negative: int
    neutral: int
    positive: int

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0


@dataclass(frozen=True)
class TriageReport:
    days: int
    start: Any  # datetime
    end: Any  # datetime
    tickets: int  # created in the period
    categories: list[LabelCount]  # intent, most tickets first; "none of these" among them
    reviewed: int  # intent predictions agents reviewed in the period
    agreed: int  # ... of which they kept the predicted label
    reviews: list[CategoryReview]
    confusions: list[Confusion]
    sentiment_by_day: list[SentimentDay]
    sentiment: list[LabelCount]
    languages: list[LabelCount]
    urgency: list[LabelCount]

    @property
    def triaged(self) -> int:
        return sum(item.tickets for item in self.categories)

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None

    @property
    def out_of_scope(self) -> LabelCount | None:
        return next((item for item in self.categories if item.label == OUT_OF_SCOPE), None)


def _effective_label() -> Any:
    from django.db.models import Value
    from django.db.models.functions import Coalesce, NullIf

    return Coalesce(NullIf("corrected_label", Value("")), "label")


def _latest_of_kind(kind: str, start: Any, end: Any) -> QuerySet[Any]:
    """Each ticket created in [start, end)'s latest prediction of ``kind`` (as the inbox
    shows it: a later message's prediction wins, an agent's correction over the model's)."""
    from django.db.models import OuterRef, Subquery

    latest_id = (
        Prediction.objects.filter(ticket_id=OuterRef("ticket_id"), kind=kind)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    return (
        Prediction.objects.filter(
            kind=kind, ticket__created_at__gte=start, ticket__created_at__lt=end
        )
        .filter(id=Subquery(latest_id))
        .annotate(effective=_effective_label())
    )


def _label_counts(kind: str, start: Any, end: Any, previous_start: Any) -> list[LabelCount]:
    from django.db.models import Avg, Count

    def counted(since: Any, until: Any) -> dict[str, dict[str, Any]]:
        rows = (
            _latest_of_kind(kind, since, until)
            .values("effective")
            .annotate(tickets=Count("id"), confidence=Avg("confidence"))
        )
        return {row["effective"]: row for row in rows}

    now_rows = counted(start, end)
    before = counted(previous_start, start)
    total = sum(row["tickets"] for row in now_rows.values())
    counts = [
        LabelCount(
            label=label,
            tickets=row["tickets"],
            share=row["tickets"] / total,
            previous_tickets=before.get(label, {}).get("tickets", 0),
            mean_confidence=float(row["confidence"] or 0.0),
        )
        for label, row in now_rows.items()
    ]
    return sorted(counts, key=lambda item: (-item.tickets, item.label))


def _reviews(start: Any, end: Any) -> tuple[list[CategoryReview], list[Confusion]]:
    from django.db.models import Count

    rows = (
        Prediction.objects.filter(
            kind=PredictionKind.INTENT, corrected_at__gte=start, corrected_at__lt=end
        )
        .exclude(corrected_label="")
        .exclude(model_version=LABELLED_HISTORY)  # people's labels, not the model's guesses
        .values("label", "corrected_label")
        .annotate(count=Count("id"))
    )
    reviewed: dict[str, int] = {}
    kept: dict[str, int] = {}
    moved_in: dict[str, int] = {}
    confusions = []
    for row in rows:
        predicted, corrected, count = row["label"], row["corrected_label"], row["count"]
        reviewed[predicted] = reviewed.get(predicted, 0) + count
        if predicted == corrected:
            kept[predicted] = kept.get(predicted, 0) + count
        else:
            moved_in[corrected] = moved_in.get(corrected, 0) + count
            confusions.append(Confusion(predicted, corrected, count))
    labels = sorted(set(reviewed) | set(moved_in))
    reviews = [
        CategoryReview(
            label=label,
            reviewed=reviewed.get(label, 0),
            kept=kept.get(label, 0),
            moved_in=moved_in.get(label, 0),
        )
        for label in labels
    ]
    reviews.sort(key=lambda item: (-(item.reviewed + item.moved_in), item.label))
    confusions.sort(key=lambda item: (-item.count, item.predicted, item.corrected))
    return reviews, confusions


def _sentiment_by_day(start: Any, end: Any) -> list[SentimentDay]:
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    rows = (
        _latest_of_kind(PredictionKind.SENTIMENT, start, end)
        .annotate(day=TruncDate("ticket__created_at"))
        .values("day", "effective")
        .annotate(tickets=Count("id"))
    )
    days: dict[Any, dict[str, int]] = {}
    for row in rows:
        days.setdefault(row["day"], {})[row["effective"]] = row["tickets"]
    return [
        SentimentDay(
            day=day,
            negative=counts.get("negative", 0),
            neutral=counts.get("neutral", 0),
            positive=counts.get("positive", 0),
        )
        for day, counts in sorted(days.items())
    ]


def triage_report(*, user: Any, days: int = 30, now: Any = None) -> TriageReport:
    """What the period's new tickets were about, how they felt, in which language, and
    how often agents who reviewed a category prediction kept it (admins)."""
    from datetime import timedelta

    from django.utils import timezone

    from concierge.core.errors import ValidationFailed
    from concierge.tickets.models import Ticket

    policy.require(policy.can_manage_triage(user), "Only admins see the triage report.")
    if not 1 <= days <= REPORT_MAX_DAYS:
        raise ValidationFailed(
            f"The report covers 1 to {REPORT_MAX_DAYS} days.",
            field_errors={"days": [f"Between 1 and {REPORT_MAX_DAYS}."]},
        )
    end = now or timezone.now()
    start = end - timedelta(days=days)
    previous_start = start - timedelta(days=days)
    reviews, confusions = _reviews(start, end)

    def counts(kind: str) -> list[LabelCount]:
        return _label_counts(kind, start, end, previous_start)

    reviewed = sum(item.reviewed for item in reviews)
    return TriageReport(
        days=days,
        start=start,
        end=end,
        tickets=Ticket.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        categories=counts(PredictionKind.INTENT),
        reviewed=reviewed,
        agreed=sum(item.kept for item in reviews),
        reviews=reviews,
        confusions=confusions,
        sentiment_by_day=_sentiment_by_day(start, end),
        sentiment=counts(PredictionKind.SENTIMENT),
        languages=counts(PredictionKind.LANGUAGE),
        urgency=counts(PredictionKind.URGENCY),
    )
