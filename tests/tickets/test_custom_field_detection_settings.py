"""A custom field's entity detection settings: which fields, which phrases, the limits."""

from __future__ import annotations

from typing import Any

import pytest

from concierge.core.errors import LimitExceeded, ValidationFailed
from concierge.tickets.actions import (
    DETECTION_PHRASE_MAX_CHARS,
    DETECTION_PHRASES_PER_OPTION_MAX,
    save_custom_field,
)
from concierge.tickets.models import CustomField, FieldType

pytestmark = pytest.mark.django_db


def _save(admin_user: Any, **fields: Any) -> CustomField:
    values: dict[str, Any] = {
        "key": "phone",
        "label": "Phone",
        "field_type": FieldType.DROPDOWN,
        "choices": ["Galaxy S24", "Pixel 8"],
        "detect_from_messages": True,
    }
    values.update(fields)
    return save_custom_field(actor=admin_user, **values)


def test_phrases_are_tidied_and_stored_per_option(admin_user) -> None:
    field = _save(
        admin_user,
        detection_phrases={"Galaxy S24": ["  s24 ", "s24", "", "galaxy s 24", "Samsung   S24"]},
    )

    # Duplicates, blanks and the option's own words ("galaxy s 24" is "Galaxy S24" read
    # as words) go: they add nothing.
    assert field.detection_phrases == {"Galaxy S24": ["s24", "Samsung S24"]}
    assert field.detect_from_messages is True


def test_phrases_for_an_option_that_does_not_exist_are_refused(admin_user) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _save(admin_user, detection_phrases={"iPhone 15": ["iphone"]})

    assert refused.value.field_errors == {"detection_phrases": ["Not an option: iPhone 15."]}
    assert not CustomField.objects.exists()


def test_dropping_an_option_drops_its_phrases(admin_user) -> None:
    field = _save(admin_user, detection_phrases={"Galaxy S24": ["s24"], "Pixel 8": ["pixel8a"]})

    field = _save(admin_user, field=field, choices=["Pixel 8"])

    assert field.detection_phrases == {"Pixel 8": ["pixel8a"]}


def test_one_phrase_cannot_mean_two_options(admin_user) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _save(admin_user, detection_phrases={"Galaxy S24": ["phone"], "Pixel 8": ["Phone"]})

    assert (
        "'Phone' is given for Galaxy S24 and Pixel 8."
        in refused.value.field_errors["detection_phrases"]
    )


def test_too_many_or_too_long_phrases_exceed_the_limits(admin_user) -> None:
    many = [f"model {n}" for n in range(DETECTION_PHRASES_PER_OPTION_MAX + 1)]
    with pytest.raises(LimitExceeded) as too_many:
        _save(admin_user, detection_phrases={"Pixel 8": many})
    with pytest.raises(LimitExceeded) as too_long:
        _save(admin_user, detection_phrases={"Pixel 8": ["x" * (DETECTION_PHRASE_MAX_CHARS + 1)]})

    assert f"At most {DETECTION_PHRASES_PER_OPTION_MAX}" in too_many.value.message
    assert f"at most {DETECTION_PHRASE_MAX_CHARS} characters" in too_long.value.message
    assert not CustomField.objects.exists()


def test_a_phrase_without_words_is_refused(admin_user) -> None:
    with pytest.raises(ValidationFailed):
        _save(admin_user, detection_phrases={"Pixel 8": ["!!!"]})


def test_only_dropdowns_and_multi_selects_are_detected(admin_user) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _save(admin_user, field_type=FieldType.TEXT, choices=[])

    assert "detect_from_messages" in refused.value.field_errors


def test_agents_cannot_change_detection(agent_user) -> None:
    with pytest.raises(Exception):  # noqa: B017 - PermissionDenied, whichever subclass
        _save(agent_user)
    assert not CustomField.objects.exists()
