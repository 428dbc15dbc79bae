"""Entity detection: field options found in customers' messages, filled, audited, corrected."""

from __future__ import annotations

from typing import Any

import pytest

from concierge.ai import actions, services
from concierge.ai.entities import OptionMatcher, detect
from concierge.ai.models import OUT_OF_SCOPE, Prediction, PredictionKind
from concierge.core.errors import ValidationFailed
from concierge.tickets.actions import save_custom_field, update_ticket
from concierge.tickets.models import AuditEvent, CustomField, FieldType, Ticket
from tests.factories import EntryFactory, TicketFactory

PHONES = ["Galaxy S24", "Galaxy S24 Ultra", "Pixel 8", "Crème Phone"]
PHONE_PHRASES = {"Galaxy S24": ["s24", "samsung s24"], "Pixel 8": ["google pixel"]}


def _found(text: str, *, multi: bool = False) -> Any:
    matcher = OptionMatcher(PHONES, PHONE_PHRASES)
    return detect(matcher.find(text), is_multi_select=multi)


# --- the matcher ---------------------------------------------------------------------------


def test_phrase_matches_whole_words_only() -> None:
    assert _found("My s240 is fine") is None
    assert _found("Is this the Xs24 model?") is None
    assert _found("my S24 broke").value == "Galaxy S24"


def test_case_accents_punctuation_and_spacing_do_not_matter() -> None:
    assert _found("the CREME   phone!").value == "Crème Phone"
    assert _found("I own a galaxy-s24, help").value == "Galaxy S24"
    assert _found("my Pixel8 restarts").value == "Pixel 8"


def test_longest_phrase_wins_where_phrases_overlap() -> None:
    found = _found("My Galaxy S24 Ultra screen cracked")

    assert found.value == "Galaxy S24 Ultra"
    assert found.matched == ["Galaxy S24 Ultra"]
    assert found.ambiguous_with == []


def test_dropdown_takes_the_first_option_and_reports_ambiguity() -> None:
    found = _found("Moving from my google pixel to an s24, or should I keep the s24?")

    assert found.value == "Pixel 8"
    assert found.ambiguous_with == ["Galaxy S24"]
    assert found.confidence == pytest.approx(1 / 3, abs=0.001)
    assert found.matched == ["google pixel", "s24"]


def test_multi_select_takes_every_option_mentioned() -> None:
    found = _found("Both my s24 and my Pixel 8 lost signal", multi=True)

    assert found.value == ["Galaxy S24", "Pixel 8"]
    assert found.label == "Galaxy S24, Pixel 8"
    assert found.confidence == 1.0


def test_nothing_mentioned_detects_nothing() -> None:
    assert _found("My phone will not charge") is None


@pytest.mark.parametrize(
    ("text", "value", "negated"),
    [
        ("I don't have an S24, it's a Pixel 8", "Pixel 8", ["S24"]),
        ("Not a Galaxy S24 but a google pixel", "Pixel 8", ["Galaxy S24"]),
        ("no longer using my s24; my Pixel 8 crashes", "Pixel 8", ["s24"]),
        ("Je n'ai pas de Galaxy S24, j'ai un Pixel 8", "Pixel 8", ["Galaxy S24"]),
        ("Ich habe kein S24, sondern ein Pixel 8", "Pixel 8", ["S24"]),
    ],
)
def test_an_option_said_not_to_be_theirs_counts_for_nothing(
    text: str, value: str, negated: list[str]
) -> None:
    found = _found(text)

    assert found.value == value
    assert found.negated == negated
    assert found.ambiguous_with == []
    assert found.confidence == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "The app doesn't work on my S24",  # the usual complaint: the phone is theirs
        "my Galaxy S24 is not charging",  # the cue comes after
        "I can't use my S24 since the update",  # a problem with it
        "It does not turn on. My S24 is new",  # another sentence
        "Not sure, but my S24 restarts",  # the cue ends its clause
        "It isn't charging anymore and my S24 is hot",  # too far from the cue
    ],
)
def test_a_negation_that_does_not_govern_the_option_leaves_it(text: str) -> None:
    found = _found(text)

    assert found.value == "Galaxy S24"
    assert found.negated == []


def test_only_negated_options_detect_nothing() -> None:
    assert _found("I do not own a Pixel 8") is None
    assert _found("I do not own a Pixel 8 or a Galaxy S24") is None  # "or" carries it on
    assert _found("No Galaxy S24 here", multi=True) is None
    # "and" does not: the second phone is theirs.
    assert _found("Not a Pixel 8 and my Galaxy S24 is slow").value == "Galaxy S24"


# --- triage: predictions, filling, the audit trail ------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.fixture
def phone_field(admin_user: Any) -> CustomField:
    return save_custom_field(
        actor=admin_user,
        key="phone",
        label="Phone",
        field_type=FieldType.DROPDOWN,
        choices=PHONES,
        detect_from_messages=True,
        detection_phrases=PHONE_PHRASES,
    )


def _detect(ticket: Ticket, text: str, field: CustomField) -> list[Prediction]:
    return actions.detect_entities(ticket=ticket, entry=None, text=text, fields=[field])


def test_detection_fills_an_empty_field_records_prediction_and_audit(phone_field) -> None:
    ticket = TicketFactory(subject="Broken screen", body="My samsung S24 fell")

    (prediction,) = _detect(ticket, "Broken screen\nMy samsung S24 fell", phone_field)

    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Galaxy S24"
    assert (prediction.kind, prediction.field_key, prediction.label) == (
        PredictionKind.ENTITY,
        "phone",
        "Galaxy S24",
    )
    assert prediction.field_value == "Galaxy S24"
    assert prediction.model_version == actions.ENTITY_VERSION
    assert prediction.reasons == ["matched 'samsung S24'", "filled the field"]
    event = AuditEvent.objects.get(ticket=ticket, field="custom_fields.phone")
    assert (event.before, event.after, event.via, event.actor_id) == (
        "",
        "Galaxy S24",
        actions.TRIAGE_VIA,
        None,
    )


def test_detection_never_overwrites_a_value_already_set(phone_field, agent_user) -> None:
    ticket = TicketFactory(body="My Pixel 8 will not charge")
    update_ticket(actor=agent_user, ticket=ticket, changes={"custom_fields": {"phone": "Pixel 8"}})

    (prediction,) = _detect(ticket, "Actually it is my s24", phone_field)

    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Pixel 8"
    assert prediction.label == "Galaxy S24"
    assert "not filled: the field already has a value" in prediction.reasons
    assert not AuditEvent.objects.filter(ticket=ticket, via=actions.TRIAGE_VIA).exists()


def test_detection_leaves_a_field_an_agent_emptied(phone_field, agent_user) -> None:
    ticket = TicketFactory(body="My s24 is slow")
    _detect(ticket, "My s24 is slow", phone_field)
    update_ticket(actor=agent_user, ticket=ticket, changes={"custom_fields": {"phone": None}})

    (prediction,) = _detect(ticket, "Still slow, my s24", phone_field)

    ticket.refresh_from_db()
    assert "phone" not in ticket.custom_fields
    assert "not filled: the field was emptied after being set" in prediction.reasons


def test_ambiguous_dropdown_says_so_in_the_reasons(phone_field) -> None:
    ticket = TicketFactory(body="x")

    (prediction,) = _detect(ticket, "Is the Pixel 8 better than the s24?", phone_field)

    assert prediction.label == "Pixel 8"
    assert "ambiguous: also mentions Galaxy S24" in prediction.reasons
    assert prediction.confidence == 0.5


def test_a_negated_option_is_set_aside_and_said_so(phone_field) -> None:
    ticket = TicketFactory(body="x")

    (prediction,) = _detect(ticket, "Not my s24: the Pixel 8 of my son will not boot", phone_field)
    assert _detect(TicketFactory(body="x"), "I don't have a Pixel 8", phone_field) == []

    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Pixel 8"
    assert prediction.reasons == [
        "matched 'Pixel 8'",
        "set aside as negated: 's24'",
        "filled the field",
    ]
    assert prediction.confidence == 1.0


def test_multi_select_fills_every_option_mentioned(admin_user) -> None:
    field = save_custom_field(
        actor=admin_user,
        key="devices",
        label="Devices",
        field_type=FieldType.MULTI_SELECT,
        choices=PHONES,
        detect_from_messages=True,
    )
    ticket = TicketFactory(body="x")

    (prediction,) = _detect(ticket, "my Pixel 8 and my Galaxy S24", field)

    ticket.refresh_from_db()
    assert ticket.custom_fields["devices"] == ["Galaxy S24", "Pixel 8"]
    assert prediction.field_value == ["Galaxy S24", "Pixel 8"]
    assert prediction.label == "Galaxy S24, Pixel 8"


def test_triage_detects_on_new_ticket_and_follow_up_once_each(phone_field) -> None:
    CustomField.objects.create(key="notes", label="Notes", field_type=FieldType.TEXT)
    ticket = TicketFactory(subject="Help", body="My s24 keeps rebooting")

    stored = actions.triage_ticket(ticket_id=ticket.pk)
    actions.triage_ticket(ticket_id=ticket.pk)  # a task run twice stores nothing more
    message = EntryFactory(
        ticket=ticket, author_customer=ticket.requester, body_source="Or is it the Pixel 8?"
    )
    later = actions.triage_ticket(ticket_id=ticket.pk, entry_id=message.pk)

    assert stored["entity:phone"].label == "Galaxy S24"
    assert later["entity:phone"].label == "Pixel 8"
    assert Prediction.objects.filter(ticket=ticket, kind=PredictionKind.ENTITY).count() == 2
    ticket.refresh_from_db()
    assert ticket.custom_fields == {"phone": "Galaxy S24"}  # the follow-up did not overwrite
    # Entities are not labels of a kind: rules and inbox filters read the six model kinds.
    assert "entity" not in services.effective_labels(ticket.pk)


def test_fields_not_marked_for_detection_are_left_alone(admin_user) -> None:
    save_custom_field(
        actor=admin_user, key="phone", label="Phone", field_type="dropdown", choices=PHONES
    )
    ticket = TicketFactory(body="My s24")

    stored = actions.triage_ticket(ticket_id=ticket.pk)

    assert not [slot for slot in stored if slot.startswith("entity")]
    ticket.refresh_from_db()
    assert ticket.custom_fields == {}


# --- corrections --------------------------------------------------------------------------


def test_correction_sets_the_field_and_is_stored_on_the_prediction(phone_field, agent_user) -> None:
    ticket = TicketFactory(body="x")
    (prediction,) = _detect(ticket, "my s24", phone_field)

    corrected = actions.correct_prediction(actor=agent_user, prediction=prediction, label="Pixel 8")

    assert (corrected.corrected_label, corrected.corrected_by) == ("Pixel 8", agent_user)
    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Pixel 8"
    change = AuditEvent.objects.filter(ticket=ticket, field="custom_fields.phone").last()
    assert (change.after, change.actor, change.via) == ("Pixel 8", agent_user, "correction")
    assert AuditEvent.objects.filter(ticket=ticket, field="prediction.entity.phone").exists()


def test_correction_to_none_of_these_empties_the_field(phone_field, agent_user) -> None:
    ticket = TicketFactory(body="x")
    (prediction,) = _detect(ticket, "my s24", phone_field)

    actions.correct_prediction(actor=agent_user, prediction=prediction, label=OUT_OF_SCOPE)

    ticket.refresh_from_db()
    assert "phone" not in ticket.custom_fields


def test_confirming_sets_the_detected_value_even_over_another(phone_field, agent_user) -> None:
    ticket = TicketFactory(body="x")
    update_ticket(actor=None, ticket=ticket, changes={"custom_fields": {"phone": "Pixel 8"}})
    (prediction,) = _detect(ticket, "my s24", phone_field)

    actions.correct_prediction(actor=agent_user, prediction=prediction, label="Galaxy S24")

    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Galaxy S24"


def test_correction_to_an_unknown_option_is_refused(phone_field, agent_user) -> None:
    ticket = TicketFactory(body="x")
    (prediction,) = _detect(ticket, "my s24", phone_field)

    with pytest.raises(ValidationFailed):
        actions.correct_prediction(actor=agent_user, prediction=prediction, label="Nokia 3310")

    prediction.refresh_from_db()
    assert prediction.corrected_label == ""
    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Galaxy S24"
