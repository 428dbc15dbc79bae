"""Triage actions: predictions stored on tickets, corrections as labels, the retrain gate."""

from __future__ import annotations

import pytest

from concierge.ai import actions, services, training
from concierge.ai.models import MODEL_KINDS, OUT_OF_SCOPE, Prediction, PredictionKind, TriageModel
from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.tickets.models import AuditEvent, EntryKind
from tests.factories import EntryFactory, TicketFactory, make_agent

pytestmark = pytest.mark.django_db


def test_triage_stores_every_kind_with_version_confidence_and_reasons(categories: list) -> None:
    ticket = TicketFactory(
        subject="Double charge", body="I was charged twice and want a refund now"
    )

    stored = actions.triage_ticket(ticket_id=ticket.pk)

    assert set(stored) == set(MODEL_KINDS)
    assert Prediction.objects.filter(ticket=ticket).count() == 6
    intent = stored[PredictionKind.INTENT]
    assert intent.label == "billing"
    assert 0 < intent.confidence <= 1
    assert intent.model_version.startswith("fewshot-")
    assert intent.reasons
    assert "charged twice" in intent.text
    assert stored[PredictionKind.SENTIMENT].label == "negative"
    assert stored[PredictionKind.LANGUAGE].label == "en"


def test_triage_twice_keeps_one_prediction_per_kind(categories: list) -> None:
    ticket = TicketFactory(body="Where is my package?")
    actions.triage_ticket(ticket_id=ticket.pk)
    actions.triage_ticket(ticket_id=ticket.pk)
    assert Prediction.objects.filter(ticket=ticket).count() == 6


def test_customer_message_gets_predictions_but_keeps_ticket_intent(categories: list) -> None:
    ticket = TicketFactory(body="Where is my package?")
    actions.triage_ticket(ticket_id=ticket.pk)
    message = EntryFactory(
        ticket=ticket, author_customer=ticket.requester, body_source="This is ridiculous!!"
    )

    stored = actions.triage_ticket(ticket_id=ticket.pk, entry_id=message.pk)

    assert PredictionKind.INTENT not in stored
    assert stored[PredictionKind.SENTIMENT].entry_id == message.pk
    assert services.effective_labels(ticket.pk)["intent"][0] == "shipping"


def test_agent_note_is_not_classified(categories: list) -> None:
    ticket = TicketFactory()
    note = EntryFactory(ticket=ticket, kind=EntryKind.INTERNAL_NOTE, author_user=make_agent())
    assert actions.triage_ticket(ticket_id=ticket.pk, entry_id=note.pk) == {}


def test_correction_is_stored_as_label_and_audited(categories: list, agent_user) -> None:
    ticket = TicketFactory(body="I cannot log in to my account")
    intent = actions.triage_ticket(ticket_id=ticket.pk)[PredictionKind.INTENT]

    corrected = actions.correct_prediction(actor=agent_user, prediction=intent, label="billing")

    assert corrected.corrected_label == "billing"
    assert corrected.corrected_by == agent_user
    assert corrected.effective_label == "billing"
    assert services.effective_labels(ticket.pk)["intent"] == ("billing", 1.0)
    assert AuditEvent.objects.filter(ticket=ticket, field="prediction.intent").exists()
    data = training.labelled_examples()
    assert "billing" in data.train_labels + data.validation_labels
    assert any("log in" in text for text in data.train_texts + data.validation_texts)


def test_light_agent_cannot_correct(categories: list, light_agent_user) -> None:
    ticket = TicketFactory(body="Where is my package?")
    intent = actions.triage_ticket(ticket_id=ticket.pk)[PredictionKind.INTENT]
    with pytest.raises(PermissionDenied):
        actions.correct_prediction(actor=light_agent_user, prediction=intent, label="billing")
    intent.refresh_from_db()
    assert intent.corrected_label == ""


def test_correction_to_unknown_label_is_refused(categories: list, agent_user) -> None:
    ticket = TicketFactory(body="Where is my package?")
    intent = actions.triage_ticket(ticket_id=ticket.pk)[PredictionKind.INTENT]
    with pytest.raises(ValidationFailed) as error:
        actions.correct_prediction(actor=agent_user, prediction=intent, label="astrology")
    assert "label" in error.value.field_errors
    intent.refresh_from_db()
    assert intent.corrected_label == ""


def test_customers_never_see_predictions(categories: list, customer_user) -> None:
    ticket = TicketFactory(requester=customer_user.customer)
    actions.triage_ticket(ticket_id=ticket.pk)
    assert services.ticket_predictions(user=customer_user, ticket=ticket) == {}


def test_light_agents_see_predictions(categories: list, light_agent_user) -> None:
    ticket = TicketFactory()
    actions.triage_ticket(ticket_id=ticket.pk)
    assert len(services.ticket_predictions(user=light_agent_user, ticket=ticket)) == 6


def _label(ticket_text: str, label: str, agent) -> Prediction:  # type: ignore[no-untyped-def]
    ticket = TicketFactory(body=ticket_text)
    prediction = Prediction.objects.create(
        ticket=ticket, kind="intent", label=label, model_version="t", text=ticket_text
    )
    return actions.correct_prediction(actor=agent, prediction=prediction, label=label)


LABELLED = [
    ("refund the double charge on my card", "billing"),
    ("my invoice amount is wrong", "billing"),
    ("you billed me twice this month", "billing"),
    ("I need my money back for the order", "billing"),
    ("payment failed but money was taken", "billing"),
    ("where is my parcel", "shipping"),
    ("delivery is three days late", "shipping"),
    ("the courier lost my package", "shipping"),
    ("tracking has not updated for a week", "shipping"),
    ("when will my order arrive", "shipping"),
    ("I forgot my password", "account"),
    ("cannot sign in since yesterday", "account"),
    ("how do I change my email address", "account"),
    ("my account is locked", "account"),
    ("two factor code never arrives", "account"),
]


def test_retrain_trains_on_labels_and_promotes_when_at_least_as_good(
    categories: list, agent_user, settings
) -> None:
    settings.TRIAGE_RETRAIN_EVERY_LABELS = 0
    for text, label in LABELLED * 2:
        _label(text, label, agent_user)

    outcome = actions.retrain(actor=None, force=False)

    assert outcome["training_examples"] > 0
    model = TriageModel.objects.get(version=outcome["version"])
    assert model.validation_score == outcome["validation_score"]
    assert outcome["promoted"] is (outcome["validation_score"] >= outcome["current_score"])
    if outcome["promoted"]:
        assert model.is_active
        ticket = TicketFactory(body="please refund the charge on my card")
        intent = actions.triage_ticket(ticket_id=ticket.pk)[PredictionKind.INTENT]
        assert intent.model_version == model.version


def test_retrain_reports_the_none_of_these_labels_that_set_the_threshold(
    categories: list, agent_user, settings
) -> None:
    settings.TRIAGE_RETRAIN_EVERY_LABELS = 0
    off_topic = [
        "what is the weather in lima",
        "play some jazz",
        "who won the match",
        "tell a joke",
    ]
    for text, label in [*LABELLED * 2, *[(text, OUT_OF_SCOPE) for text in off_topic * 2]]:
        _label(text, label, agent_user)

    outcome = actions.retrain(actor=None, force=True)

    assert outcome["out_of_scope_examples"] == len(off_topic) * 2
    assert outcome["out_of_scope_threshold"] != 0.0
    model = TriageModel.objects.get(version=outcome["version"])
    assert OUT_OF_SCOPE in model.labels  # the labels it learned from, listed for admins


def test_retrain_gate_refuses_a_worse_model(categories: list, agent_user, settings) -> None:
    settings.TRIAGE_RETRAIN_EVERY_LABELS = 0
    validation = [training.is_validation_example(i) for i in range(1, 400)]
    assert any(validation) and not all(validation)
    texts = [text for text, _ in LABELLED] * 2
    good = [label for _, label in LABELLED] * 2
    # Train on scrambled labels, validate on the true ones: the candidate is worse.
    scrambled = good[5:] + good[:5]
    first = training.train_and_gate("intent", texts, good, texts, good, force=True)
    assert first["promoted"]

    second = training.train_and_gate("intent", texts, scrambled, texts, good)

    assert second["promoted"] is False
    assert "below current" in second["reason"]
    assert TriageModel.objects.get(is_active=True, kind="intent").version == first["version"]


def test_retrain_needs_two_categories_besides_none_of_these(categories: list) -> None:
    texts = ["refund my card please", "what is the weather", "play some music", "tell a joke"]
    labels = ["billing", OUT_OF_SCOPE, OUT_OF_SCOPE, OUT_OF_SCOPE]

    outcome = training.train_and_gate("intent", texts, labels, texts, labels, force=True)

    assert outcome["promoted"] is False
    assert "two categories" in outcome["reason"]
    assert not TriageModel.objects.filter(kind="intent").exists()


def test_retrain_waits_for_enough_labels(categories: list) -> None:
    outcome = actions.retrain(actor=None)
    assert outcome["promoted"] is False
    assert "few-shot" in outcome["reason"]


def test_retrain_command_trains_sentiment_from_csv_and_production_uses_it(tmp_path) -> None:
    import csv
    import json
    from io import StringIO

    from django.core.management import call_command

    from concierge.ai import predictors

    rows = [
        ("the flight was late again and nobody helped", "negative"),
        ("lost my bag, worst airline ever", "negative"),
        ("charged twice for one ticket, want a refund", "negative"),
        ("what time does boarding start", "neutral"),
        ("is there wifi on the plane", "neutral"),
        ("do you fly to boston", "neutral"),
        ("thanks, great crew and a smooth flight", "positive"),
        ("love the new seats, thank you", "positive"),
        ("amazing service today, thanks", "positive"),
    ] * 4
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    output = StringIO()

    call_command("retrain_triage", "--sentiment-data", str(tmp_path), stdout=output)

    outcome = json.loads(output.getvalue())
    assert outcome["promoted"] is True
    model = TriageModel.objects.get(kind="sentiment", is_active=True)
    result = predictors.predict_sentiment("my bag was lost and the flight was late")
    assert result.model_version == model.version
    assert result.label == "negative"
    assert result.score < 0


def test_retrain_is_scheduled_after_every_batch_of_new_labels(
    categories: list, agent_user, settings, caplog, django_capture_on_commit_callbacks
) -> None:
    settings.TRIAGE_RETRAIN_EVERY_LABELS = 2
    caplog.set_level("INFO", logger="concierge.ai.tasks")
    with django_capture_on_commit_callbacks(execute=True):
        _label("where is my parcel", "shipping", agent_user)
    assert "scheduled triage retrain" not in caplog.text

    with django_capture_on_commit_callbacks(execute=True):
        _label("refund my card", "billing", agent_user)

    assert "scheduled triage retrain" in caplog.text  # tests run tasks inline
    assert "few-shot is used until then" in caplog.text
