"""Writes for triage: predict on tickets, record corrections, edit categories, retrain."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from concierge.ai import entities, predictors
from concierge.ai.models import (
    MODEL_KINDS,
    OUT_OF_SCOPE,
    Category,
    Prediction,
    PredictionKind,
    TriageModel,
)
from concierge.core import policy
from concierge.core.errors import LimitExceeded, NotFound, ValidationFailed

logger = logging.getLogger(__name__)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Plain text as typed (escaped on output), minus control characters that break displays."""
    return _CONTROL_CHARACTERS.sub("", value)


# Classify at most this much of a message: the start says what it is about,
# and the limit bounds prediction time.
MAX_TEXT_CHARS = 2000
CATEGORY_EXAMPLES_MAX = 200
CATEGORY_EXAMPLE_MAX_CHARS = 300


def ticket_text(ticket: Any, entry: Any | None = None) -> str:
    """The customer's message; the first message of a ticket is read with its subject."""
    from concierge.tickets.models import EntryKind

    first = ticket.entries.filter(kind=EntryKind.PUBLIC_REPLY).order_by("created_at", "id").first()
    if entry is None or (first is not None and entry.pk == first.pk):
        parts = [ticket.subject, first.body_source if first is not None else ""]
    else:
        parts = [entry.body_source]
    return "\n".join(part.strip() for part in parts if part and part.strip())[:MAX_TEXT_CHARS]


def _is_customer_message(entry: Any) -> bool:
    from concierge.tickets.models import EntryKind

    return entry.kind == EntryKind.PUBLIC_REPLY and entry.author_user_id is None


@transaction.atomic
def triage_ticket(*, ticket_id: int, entry_id: int | None = None) -> dict[str, Prediction]:
    """Predicts language, sentiment, intent, urgency, abuse and spam; stores one row per kind.

    Called by the pipeline task for a new ticket (``entry_id`` None: subject +
    first message) and for each new customer message (``entry_id``). Safe to
    run twice: an existing prediction for the same ticket/entry/kind is kept.
    An agent's reply or note is not classified. Intent is predicted for a
    follow-up message only while the ticket has no intent yet, so "thanks!"
    does not overwrite what the ticket is about.

    It also detects the options of custom fields marked "detect from
    customers' messages" (``detect_entities``), filling fields still empty.
    Returns the predictions by ``Prediction.slot``.
    """
    from concierge.tickets.models import Entry, Ticket

    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return {}
    entry = None
    if entry_id is not None:
        entry = Entry.objects.filter(pk=entry_id, ticket_id=ticket_id).first()
        if entry is None or not _is_customer_message(entry):
            return {}
    same_message = Prediction.objects.filter(ticket_id=ticket_id)
    same_message = (
        same_message.filter(entry__isnull=True)
        if entry_id is None
        else same_message.filter(entry_id=entry_id)
    )
    existing = {p.slot: p for p in same_message}
    kinds = [kind for kind in MODEL_KINDS if kind not in existing]
    if entry is not None and PredictionKind.INTENT in kinds:
        if Prediction.objects.filter(ticket_id=ticket_id, kind=PredictionKind.INTENT).exists():
            kinds.remove(PredictionKind.INTENT)
    detecting = [field for field in _detecting_fields() if _entity_slot(field.key) not in existing]
    if not kinds and not detecting:
        return existing
    text = ticket_text(ticket, entry)
    stored = dict(existing)
    if kinds:
        results = predictors.predict_all(text, kinds=kinds)
        # One INSERT for all kinds: triage runs on every incoming message.
        created = Prediction.objects.bulk_create(
            [
                Prediction(
                    ticket=ticket,
                    entry=entry,
                    kind=kind,
                    label=result.label,
                    score=result.score,
                    confidence=result.confidence,
                    model_version=result.model_version,
                    reasons=list(result.reasons)[:5],
                    text=text,
                )
                for kind, result in results.items()
            ]
        )
        stored.update((prediction.slot, prediction) for prediction in created)
    detected = detect_entities(ticket=ticket, entry=entry, text=text, fields=detecting)
    stored.update((prediction.slot, prediction) for prediction in detected)
    if kinds or detected:
        _publish_update(ticket.pk)
    return stored


# --- entity detection: custom field options named in customers' messages --------------------

# The audit trail's "via" for the field values triage fills (a rule's is "rule: <name>").
TRIAGE_VIA = "ai triage"
ENTITY_VERSION = "entity-phrases-2"  # 2: negated mentions set aside


def _entity_slot(field_key: str) -> str:
    return f"{PredictionKind.ENTITY}:{field_key}"


def _detecting_fields() -> list[Any]:
    from concierge.tickets.actions import CHOICE_TYPES
    from concierge.tickets.models import CustomField

    return list(
        CustomField.objects.filter(
            is_active=True, detect_from_messages=True, field_type__in=CHOICE_TYPES
        ).order_by("position", "key")
    )


def detect_entities(
    *, ticket: Any, entry: Any | None, text: str, fields: Sequence[Any]
) -> list[Prediction]:
    """For each detecting field whose options ``text`` mentions: a prediction, and the value
    filled in when the field is still empty (``_fill_when_empty``).

    The prediction is stored even when the field is left as it was, so agents
    see what the customer named; its reasons say which words matched, whether
    a dropdown's message named several options, and what happened to the field.
    """
    from concierge.tickets.models import FieldType

    predictions = []
    for field in fields:
        matcher = entities.OptionMatcher(field.choices, field.detection_phrases or {})
        detection = entities.detect(
            matcher.find(text), is_multi_select=field.field_type == FieldType.MULTI_SELECT
        )
        if detection is None:
            continue
        notes = []
        if detection.ambiguous_with:
            notes.append(f"ambiguous: also mentions {', '.join(detection.ambiguous_with)}")
        if detection.negated:
            notes.append(f"set aside as negated: '{', '.join(detection.negated[:3])}'")
        notes.append(_fill_when_empty(ticket.pk, field, detection.value))
        # At most five reasons in all; what happened to the field always shows.
        reasons = [f"matched '{words}'" for words in detection.matched[: 5 - len(notes)]] + notes
        predictions.append(
            Prediction(
                ticket=ticket,
                entry=entry,
                kind=PredictionKind.ENTITY,
                field_key=field.key,
                field_value=detection.value,
                label=detection.label[:100].strip(),
                confidence=detection.confidence,
                model_version=ENTITY_VERSION,
                reasons=[reason[:300] for reason in reasons[:5]],
                text=text,
            )
        )
    return Prediction.objects.bulk_create(predictions) if predictions else []


def _fill_when_empty(ticket_id: int, field: Any, value: Any) -> str:
    """Sets the field (audited "via ai triage") unless anyone gave it a value; what happened.

    Never overwrites: a value an agent, the customer's portal form or a rule
    set stays, and so does a field someone emptied on purpose (the audit trail
    shows a change not made by triage).
    """
    from concierge.tickets.actions import update_ticket
    from concierge.tickets.models import AuditEvent, Ticket

    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    if ticket.merged_into_id:
        return "not filled: the ticket was merged"
    if ticket.custom_fields.get(field.key) not in (None, "", []):
        return "not filled: the field already has a value"
    changed_by_someone = (
        AuditEvent.objects.filter(ticket=ticket, field=f"custom_fields.{field.key}")
        .exclude(via=TRIAGE_VIA)
        .exists()
    )
    if changed_by_someone:
        return "not filled: the field was emptied after being set"
    update_ticket(
        actor=None, ticket=ticket, changes={"custom_fields": {field.key: value}}, via=TRIAGE_VIA
    )
    return "filled the field"


def _publish_update(ticket_id: int) -> None:
    from concierge.core import events

    data = {"ticket_id": ticket_id, "fields": ["predictions"]}
    events.publish_many(
        [("staff", "ticket.updated", data), (f"ticket.{ticket_id}", "ticket.updated", data)]
    )


@transaction.atomic
def correct_prediction(*, actor: Any, prediction: Prediction, label: str) -> Prediction:
    """Records an agent's correct label; the corrected row becomes a training label."""
    from concierge.ai.services import label_choices

    policy.require(
        policy.can_view_predictions(actor)
        and policy.can_correct_prediction(actor, prediction.ticket),
        "Only agents may correct predictions.",
    )
    label = clean_text(label or "").strip()
    choices = label_choices(prediction.kind, prediction.field_key)
    if prediction.kind == PredictionKind.ENTITY:
        if not choices:
            raise ValidationFailed(
                "The field was deleted or deactivated; its value cannot be set.",
                field_errors={"label": ["No such active field."]},
            )
        # Confirming a multi-select's detection sends its label ("A, B"): the values found.
        if label not in choices and label != prediction.label:
            raise ValidationFailed(
                f"'{label[:100]}' is not an option of this field.",
                field_errors={"label": ["Choose one of its options, or none of these."]},
            )
    elif prediction.kind == PredictionKind.LANGUAGE:
        if not label or len(label) > 16 or not label.replace("-", "").isalpha():
            raise ValidationFailed(
                "Give a language code such as 'en' or 'pt-br'.",
                field_errors={"label": ["A language code of at most 16 letters."]},
            )
        label = label.lower()
    elif label not in choices:
        raise ValidationFailed(
            f"'{label}' is not a {prediction.kind} label.",
            field_errors={"label": [f"Choose one of: {', '.join(choices)}."]},
        )
    prediction = Prediction.objects.select_for_update().get(pk=prediction.pk)
    before = prediction.effective_label
    # Confirming the predicted label is stored too: a confirmed label trains as well.
    prediction.corrected_label = label
    prediction.corrected_by = actor
    prediction.corrected_at = timezone.now()
    prediction.save(update_fields=["corrected_label", "corrected_by", "corrected_at", "updated_at"])
    if prediction.kind == PredictionKind.ENTITY:
        _set_corrected_field(prediction, actor)
    if before != prediction.effective_label:
        _audit_correction(prediction, before, actor)
        _publish_update(prediction.ticket_id)
    if prediction.kind == PredictionKind.INTENT:
        _schedule_retrain_when_due()
    return prediction


def _schedule_retrain_when_due() -> None:
    """Enqueues a retrain once ``TRIAGE_RETRAIN_EVERY_LABELS`` new labels arrived since the last."""
    from django.conf import settings

    from concierge.ai.models import TriageModel
    from concierge.ai.tasks import retrain_triage_model
    from concierge.core.events import enqueue_after_commit

    every = int(getattr(settings, "TRIAGE_RETRAIN_EVERY_LABELS", 25))
    if every <= 0:
        return
    last = TriageModel.objects.filter(kind=PredictionKind.INTENT).order_by("-created_at").first()
    new_labels = Prediction.objects.filter(kind=PredictionKind.INTENT).exclude(corrected_label="")
    if last is not None:
        new_labels = new_labels.filter(corrected_at__gt=last.created_at)
    if new_labels.count() % every == 0:  # once per batch of `every` new labels
        enqueue_after_commit(retrain_triage_model)


def _set_corrected_field(prediction: Prediction, actor: Any) -> None:
    """An entity's correction is the field's value, set as the agent's change.

    The detected value when confirmed; the chosen option (a multi-select: that
    option alone); empty for "none of these".
    """
    from concierge.tickets.actions import update_ticket
    from concierge.tickets.models import CustomField, FieldType

    field = CustomField.objects.get(key=prediction.field_key, is_active=True)
    chosen = prediction.corrected_label
    value: Any
    if chosen == prediction.label:
        value = prediction.field_value
    elif chosen == OUT_OF_SCOPE:
        value = None
    else:
        value = [chosen] if field.field_type == FieldType.MULTI_SELECT else chosen
    update_ticket(
        actor=actor,
        ticket=prediction.ticket,
        changes={"custom_fields": {field.key: value}},
        via="correction",
    )


def _audit_correction(prediction: Prediction, before: str, actor: Any) -> None:
    from concierge.tickets.models import AuditEvent

    kind = prediction.kind
    if kind == PredictionKind.ENTITY:
        kind = f"{kind}.{prediction.field_key}"
    AuditEvent.objects.create(
        ticket_id=prediction.ticket_id,
        field=f"prediction.{kind}"[:64],
        before=before,
        after=prediction.effective_label,
        actor=actor,
        via="correction",
    )


def try_triage(*, actor: Any, text: str) -> dict[str, predictors.PredictionResult]:
    """What triage would predict for ``text`` now, every kind; nothing is stored.

    For admins checking their categories and model before customers write
    (Settings -> AI triage, and the API). The text is cleaned as a ticket's
    is; one longer than a ticket's classified part (MAX_TEXT_CHARS) is
    refused, saying so, rather than cut: the admin is testing what the
    model reads.
    """
    policy.require(policy.can_manage_triage(actor), "Only admins may try triage on a message.")
    cleaned = clean_text(text or "").strip()
    if not cleaned:
        raise ValidationFailed(
            "Type a customer's message to try.", field_errors={"text": ["Required."]}
        )
    if len(cleaned) > MAX_TEXT_CHARS:
        raise LimitExceeded(
            f"At most {MAX_TEXT_CHARS:,} characters: triage reads the first {MAX_TEXT_CHARS:,} "
            "of a message.",
            field_errors={"text": [f"{len(cleaned):,} characters given."]},
        )
    return predictors.predict_all(cleaned)


def _clean_examples(examples: str) -> str:
    lines = [clean_text(line).strip() for line in (examples or "").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > CATEGORY_EXAMPLES_MAX:
        raise ValidationFailed(
            f"At most {CATEGORY_EXAMPLES_MAX} example phrases per category.",
            field_errors={
                "examples": [f"{len(lines)} given; the limit is {CATEGORY_EXAMPLES_MAX}."]
            },
        )
    too_long = [line for line in lines if len(line) > CATEGORY_EXAMPLE_MAX_CHARS]
    if too_long:
        raise ValidationFailed(
            f"Example phrases are limited to {CATEGORY_EXAMPLE_MAX_CHARS} characters.",
            field_errors={"examples": [f"Too long: {too_long[0][:60]}..."]},
        )
    return "\n".join(lines)


@transaction.atomic
def save_category(
    *,
    actor: Any,
    category: Category | None = None,
    name: str,
    description: str = "",
    examples: str = "",
    is_active: bool = True,
) -> Category:
    """Creates or updates a category (admins); the few-shot classifier picks it up at once."""
    policy.require(policy.can_manage_triage(actor), "Only admins may edit triage categories.")
    name = clean_text(name or "").strip()
    description = clean_text(description or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["A name is required."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    elif name == OUT_OF_SCOPE:
        errors["name"] = [f"'{OUT_OF_SCOPE}' is reserved for 'none of these'."]
    elif (
        Category.objects.filter(name__iexact=name)
        .exclude(pk=category.pk if category is not None else 0)
        .exists()
    ):
        errors["name"] = ["A category with this name exists."]
    if len(description) > 500:
        errors["description"] = ["At most 500 characters."]
    if errors:
        raise ValidationFailed("The category was not saved.", field_errors=errors)
    cleaned_examples = _clean_examples(examples)
    category = category or Category()
    category.name = name
    category.description = description
    category.examples = cleaned_examples
    category.is_active = is_active
    category.save()
    predictors.forget_cached_models()
    return category


@transaction.atomic
def add_category_template(*, actor: Any, key: str) -> tuple[list[str], list[str]]:
    """Creates a starter set's categories (``category_templates``); the names it added
    and those it left alone because a category of that name exists (never overwritten)."""
    from concierge.ai.category_templates import TEMPLATE_SETS

    policy.require(policy.can_manage_triage(actor), "Only admins may edit triage categories.")
    template = TEMPLATE_SETS.get(key)
    if template is None:
        raise ValidationFailed(
            "Choose one of the starter sets.",
            field_errors={"template": [f"One of: {', '.join(TEMPLATE_SETS)}."]},
        )
    added, kept = [], []
    for item in template.categories:
        if Category.objects.filter(name__iexact=item.name).exists():
            kept.append(item.name)
            continue
        save_category(
            actor=actor,
            name=item.name,
            description=item.description,
            examples="\n".join(item.examples),
        )
        added.append(item.name)
    return added, kept


@transaction.atomic
def delete_category(*, actor: Any, category: Category) -> None:
    policy.require(policy.can_manage_triage(actor), "Only admins may edit triage categories.")
    if category.pk is None:
        raise NotFound("No such category.")
    category.delete()
    predictors.forget_cached_models()


def retrain(*, actor: Any = None, force: bool = False) -> dict[str, Any]:
    """Trains a new intent model on the labelled tickets; promotes it only if it validates.

    ``actor`` None is the scheduler / command line (trusted); a user must be an admin.
    """
    from concierge.ai import training

    if actor is not None:
        policy.require(policy.can_manage_triage(actor), "Only admins may retrain triage.")
    outcome = training.retrain_intent_model(force=force)
    predictors.forget_cached_models()
    return outcome


# --- retraining in the background (the admin's "Retrain now", the API) ------------------------

# The last retrain's state, in the shared cache (Redis at scale; the embedded
# profile's worker runs inside the server process, so its memory cache is shared too):
# {"id", "state": "queued" | "running" | "done" | "failed", "queued_at", "started_at",
#  "finished_at", "requested_by", "outcome" (what ``retrain`` returned), "error"}.
# One run at a time, so one record: a run's ``id`` tells a caller whether the
# record is still about the run it asked for.
RETRAIN_STATUS_KEY = "ai:retrain:status"
# A run still "queued" or "running" after this long lost its worker: it may be asked again.
RETRAIN_STALE_AFTER_SECONDS = 2 * 3600
# Held for the instant between "nothing is running" and "queued": two requests at once
# cannot both queue (``cache.add`` is atomic in the locmem, database and Redis caches).
RETRAIN_CLAIM_KEY = "ai:retrain:claim"
RETRAIN_CLAIM_SECONDS = 30


_RETRAIN_STATE_TIMES = {
    "queued": "queued_at", "running": "started_at", "done": "finished_at", "failed": "finished_at",
}  # fmt: skip


def record_retrain_status(state: str, *, job_id: str = "", **details: Any) -> None:
    """Stores the retrain's progress (kept on: the page shows the last run's result).

    A run that starts takes over the queued request it serves (its ``id``,
    who asked, when): the one named by ``job_id``, or, for a run nobody
    queued by hand (after new labels, nightly), whichever request waits.
    """
    status = dict(cache.get(RETRAIN_STATUS_KEY) or {})
    if state == "running":
        waiting = status if status.get("state") == "queued" else {}
        if job_id and waiting.get("id") not in (None, job_id):
            waiting = {}
        status = {k: v for k, v in waiting.items() if k in ("id", "queued_at", "requested_by")}
        status["id"] = job_id or status.get("id") or uuid.uuid4().hex
    status.update(details, state=state)
    status[_RETRAIN_STATE_TIMES[state]] = timezone.now().isoformat()
    cache.set(RETRAIN_STATUS_KEY, status, timeout=None)


def retrain_status() -> dict[str, Any]:
    """The last retrain's state; ``is_busy`` while one is queued or running (and not stale).

    ``is_stale``: it says queued or running, but for longer than any run takes.
    """
    status = dict(cache.get(RETRAIN_STATUS_KEY) or {})
    since = status.get("started_at") or status.get("queued_at")
    busy = status.get("state") in ("queued", "running")
    stale = False
    if busy and since:
        age = timezone.now() - datetime.fromisoformat(since)
        stale = age.total_seconds() >= RETRAIN_STALE_AFTER_SECONDS
    status["is_busy"] = busy and not stale
    status["is_stale"] = stale
    return status


def should_run_retrain(job_id: str) -> bool:
    """False when the run ``job_id`` was already started by someone else (a task run twice)."""
    if not job_id:
        return True
    status = retrain_status()
    return status.get("id") != job_id or status.get("state") == "queued" or status["is_stale"]


def request_retrain(*, actor: Any) -> bool:
    """Queues a retrain (admins); False when one is already queued or running.

    Either way ``retrain_status()`` then describes the run that will answer
    the request: the new one, or the one already under way.
    """
    policy.require(policy.can_manage_triage(actor), "Only admins may retrain triage.")
    return _queue_retrain(requested_by=actor.name or actor.email)


def request_scheduled_retrain() -> str:
    """The nightly retrain (``SCHEDULED_JOBS``): queued like an admin's, unless one is under way
    or nothing it would learn from changed since the model in use was trained."""
    from concierge.ai import training

    active = TriageModel.objects.filter(kind=PredictionKind.INTENT, is_active=True).first()
    if active is not None and training.nothing_new_since(active):
        return f"no new labels since {active.version}"
    return "queued" if _queue_retrain(requested_by="schedule") else "one already queued or running"


def _queue_retrain(*, requested_by: str) -> bool:
    from concierge.ai.tasks import retrain_triage_model
    from concierge.core.events import enqueue_after_commit

    if retrain_status()["is_busy"]:
        return False
    if not cache.add(RETRAIN_CLAIM_KEY, True, timeout=RETRAIN_CLAIM_SECONDS):
        return False  # another request is queueing one right now
    try:
        if retrain_status()["is_busy"]:  # queued between our first look and the claim
            return False
        job_id = uuid.uuid4().hex
        cache.set(
            RETRAIN_STATUS_KEY,
            {"id": job_id, "state": "queued", "queued_at": timezone.now().isoformat(),
             "requested_by": requested_by},
            timeout=None,
        )  # fmt: skip
    finally:
        cache.delete(RETRAIN_CLAIM_KEY)
    enqueue_after_commit(retrain_triage_model, job_id=job_id)
    return True
