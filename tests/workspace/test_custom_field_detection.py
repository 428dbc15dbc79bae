"""Entity detection in the workspace and the API: the field settings, the ticket's triage panel,
the rule editor's custom field condition."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from concierge.ai import actions
from concierge.ai.entities import OptionMatcher
from concierge.automation.models import RoutingRule
from concierge.tickets.actions import save_custom_field
from concierge.tickets.models import CustomField, FieldType
from concierge.workspace.automation_forms import RuleBuilder
from tests.api.helpers import api_client
from tests.automation.test_rule_builder import _post_of
from tests.conftest import signed_in_client
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


def _phone_field(admin_user: Any, **fields: Any) -> CustomField:
    values: dict[str, Any] = {
        "key": "phone",
        "label": "Phone",
        "field_type": FieldType.DROPDOWN,
        "choices": ["Galaxy S24", "Pixel 8"],
        "detect_from_messages": True,
    }
    values.update(fields)
    return save_custom_field(actor=admin_user, **values)


def _form_post(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "phone",
        "label": "Phone",
        "field_type": "dropdown",
        "choices": "Galaxy S24\nPixel 8",
        "is_active": "on",
        "position": 0,
        "detect_from_messages": "on",
    }
    data.update(fields)
    return data


# --- the field's settings page ------------------------------------------------------------------


def test_admin_turns_detection_on_then_gives_each_option_phrases(admin_user) -> None:
    client = signed_in_client(admin_user)

    created = client.post("/settings/fields/new/", _form_post())
    field = CustomField.objects.get()
    page = client.get(f"/settings/fields/{field.pk}/").content.decode()
    saved = client.post(
        f"/settings/fields/{field.pk}/",
        _form_post(phrases_0="s24\nsamsung s24\n", phrases_1="google pixel"),
    )

    assert created.status_code == 302 and field.detect_from_messages
    assert 'name="detect_from_messages"' in page and "checked" in page
    assert 'name="phrases_0"' in page and 'name="phrases_1"' in page
    assert saved.status_code == 302
    field.refresh_from_db()
    assert field.detection_phrases == {
        "Galaxy S24": ["s24", "samsung s24"],
        "Pixel 8": ["google pixel"],
    }


def test_removing_an_option_in_the_form_drops_its_phrases(admin_user) -> None:
    field = _phone_field(admin_user, detection_phrases={"Galaxy S24": ["s24"]})

    response = signed_in_client(admin_user).post(
        f"/settings/fields/{field.pk}/",
        _form_post(choices="Pixel 8", phrases_0="s24", phrases_1="pixel8a"),
    )

    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.choices, field.detection_phrases) == (["Pixel 8"], {"Pixel 8": ["pixel8a"]})


def test_renaming_an_option_in_place_keeps_its_phrases_and_its_old_name(admin_user) -> None:
    field = _phone_field(
        admin_user, detection_phrases={"Galaxy S24": ["s24"], "Pixel 8": ["google pixel"]}
    )

    response = signed_in_client(admin_user).post(
        f"/settings/fields/{field.pk}/",
        _form_post(
            choices="Samsung Galaxy S24 (2024)\nPixel 8",
            phrases_0="s24",
            phrases_1="google pixel",
        ),
    )

    assert response.status_code == 302
    field.refresh_from_db()
    assert field.choices == ["Samsung Galaxy S24 (2024)", "Pixel 8"]
    assert field.detection_phrases == {
        "Samsung Galaxy S24 (2024)": ["s24", "Galaxy S24"],
        "Pixel 8": ["google pixel"],
    }
    matcher = OptionMatcher(field.choices, field.detection_phrases)
    assert [mention.option for mention in matcher.find("my Galaxy S24 froze")] == [
        "Samsung Galaxy S24 (2024)"
    ]


def test_options_added_removed_or_moved_are_not_renames(admin_user) -> None:
    field = _phone_field(admin_user, detection_phrases={"Galaxy S24": ["s24"]})
    client = signed_in_client(admin_user)

    moved = client.post(
        f"/settings/fields/{field.pk}/",
        _form_post(choices="Pixel 8\nGalaxy S24", phrases_0="s24", phrases_1=""),
    )
    field.refresh_from_db()
    assert moved.status_code == 302
    assert field.detection_phrases == {"Galaxy S24": ["s24"]}

    # Two options become three: the list cannot say which became which.
    grown = client.post(
        f"/settings/fields/{field.pk}/",
        _form_post(choices="Pixel 9\nGalaxy S25\nPixel 8", phrases_0="", phrases_1="s24"),
    )
    field.refresh_from_db()
    assert grown.status_code == 302
    assert field.detection_phrases == {}


def test_a_phrase_error_is_shown_and_nothing_changes(admin_user) -> None:
    field = _phone_field(admin_user)

    response = signed_in_client(admin_user).post(
        f"/settings/fields/{field.pk}/", _form_post(phrases_0="phone", phrases_1="Phone")
    )

    assert response.status_code == 422
    assert "Phrases: &#x27;Phone&#x27; is given for Galaxy S24 and Pixel 8." in (
        response.content.decode()
    )
    field.refresh_from_db()
    assert field.detection_phrases == {}


def test_options_and_phrases_are_escaped_on_the_page(admin_user) -> None:
    field = _phone_field(admin_user, choices=[XSS], detection_phrases={XSS: [f"{XSS} 2"]})

    html = signed_in_client(admin_user).get(f"/settings/fields/{field.pk}/").content.decode()

    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_fields_list_marks_detected_fields(admin_user) -> None:
    _phone_field(admin_user)

    html = signed_in_client(admin_user).get("/settings/fields/").content.decode()

    assert ">detected</span>" in html


# --- the ticket's triage panel ------------------------------------------------------------------


def test_ticket_panel_shows_the_detected_field_and_corrects_it_in_one_click(
    admin_user, agent_user
) -> None:
    field = _phone_field(admin_user)
    ticket = TicketFactory(body="my Pixel 8")
    (prediction,) = actions.detect_entities(
        ticket=ticket, entry=None, text="my Pixel 8", fields=[field]
    )
    client = signed_in_client(agent_user)

    html = client.get(reverse("workspace:ticket", args=[ticket.pk])).content.decode()
    correct_url = reverse("workspace:ticket_triage_correct", args=[ticket.pk, prediction.pk])
    response = client.post(correct_url, {"label": "Galaxy S24"}, HTTP_HX_REQUEST="true")

    assert 'data-kind="entity"' in html and "matched &#x27;Pixel 8&#x27;" in html
    assert correct_url in html and 'value="Galaxy S24"' in html
    assert response.status_code == 200
    assert 'data-label="Galaxy S24"' in response.content.decode()
    assert "Field value set." in response.content.decode()  # no model learns from it
    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Galaxy S24"


def test_light_agent_cannot_correct_a_detected_field(admin_user, light_agent_user) -> None:
    field = _phone_field(admin_user)
    ticket = TicketFactory(body="x")
    (prediction,) = actions.detect_entities(
        ticket=ticket, entry=None, text="Galaxy S24", fields=[field]
    )

    response = signed_in_client(light_agent_user).post(
        reverse("workspace:ticket_triage_correct", args=[ticket.pk, prediction.pk]),
        {"label": "Pixel 8"},
    )

    assert response.status_code in (403, 404)
    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Galaxy S24"


# --- the rule editor ------------------------------------------------------------------------------


def test_rule_editor_builds_a_custom_field_condition(admin_user) -> None:
    _phone_field(admin_user)
    builder = RuleBuilder.blank()
    builder.conditions[0].values.update(
        field="custom_field", key="phone", operator="in", value="Galaxy S24, Pixel 8"
    )
    builder.actions[0].values.update(type="add_tags", tags="phones")
    client = signed_in_client(admin_user)

    page = client.get(reverse("workspace:settings_routing_new")).content.decode()
    response = client.post(reverse("workspace:settings_routing_new"), _post_of(builder))

    assert '<option value="custom_field"' in page and 'id="custom-field-keys"' in page
    assert response.status_code == 302
    assert RoutingRule.objects.get().conditions == {
        "all": [
            {
                "field": "custom_field",
                "key": "phone",
                "operator": "in",
                "value": ["Galaxy S24", "Pixel 8"],
            }
        ]
    }


def test_rule_editor_shows_an_unknown_key_on_its_row(admin_user) -> None:
    builder = RuleBuilder.blank()
    builder.conditions[0].values.update(field="custom_field", key="nope", operator="is_set")
    builder.actions[0].values.update(type="stop")

    response = signed_in_client(admin_user).post(
        reverse("workspace:settings_routing_new"), _post_of(builder)
    )

    assert response.status_code == 422
    assert "No active custom field with key &#x27;nope&#x27;." in response.content.decode()
    assert not RoutingRule.objects.exists()


# --- the API ------------------------------------------------------------------------------------


def test_api_creates_and_updates_detection_settings(admin_user, agent_user) -> None:
    client = api_client(admin_user)

    created = client.post(
        "/api/v1/custom-fields",
        {
            "key": "phone",
            "label": "Phone",
            "field_type": "dropdown",
            "choices": ["Galaxy S24", "Pixel 8"],
            "detect_from_messages": True,
            "detection_phrases": {"Galaxy S24": ["s24"]},
        },
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="create-phone",
    )
    field_id = created.json()["id"]
    relabelled = client.patch(
        f"/api/v1/custom-fields/{field_id}", {"label": "Phone model"}, "application/json"
    )
    dropped = client.patch(
        f"/api/v1/custom-fields/{field_id}", {"choices": ["Pixel 8"]}, "application/json"
    )
    listed = api_client(agent_user).get("/api/v1/custom-fields").json()

    assert created.status_code == 201
    assert created.json()["detection_phrases"] == {"Galaxy S24": ["s24"]}
    assert relabelled.json()["detection_phrases"] == {"Galaxy S24": ["s24"]}  # kept
    assert dropped.json()["detection_phrases"] == {}  # its option went
    assert listed[0]["detect_from_messages"] is True


def test_api_refuses_phrases_for_unknown_options_and_changes_nothing(admin_user) -> None:
    field = _phone_field(admin_user, detection_phrases={"Pixel 8": ["pixel8a"]})

    response = api_client(admin_user).patch(
        f"/api/v1/custom-fields/{field.pk}",
        {"detection_phrases": {"Nokia": ["3310"]}},
        "application/json",
    )

    assert response.status_code == 422
    assert response.json()["field_errors"] == {"detection_phrases": ["Not an option: Nokia."]}
    field.refresh_from_db()
    assert field.detection_phrases == {"Pixel 8": ["pixel8a"]}


def test_api_refuses_too_many_phrases(admin_user) -> None:
    field = _phone_field(admin_user)

    response = api_client(admin_user).patch(
        f"/api/v1/custom-fields/{field.pk}",
        {"detection_phrases": {"Pixel 8": [f"p{n}" for n in range(51)]}},
        "application/json",
    )

    assert response.status_code == 413
    assert response.json()["code"] == "limit_exceeded"


def test_api_lists_and_corrects_a_detected_field(admin_user, agent_user) -> None:
    field = _phone_field(admin_user)
    ticket = TicketFactory(body="x")
    (prediction,) = actions.detect_entities(
        ticket=ticket, entry=None, text="my Galaxy S24", fields=[field]
    )
    client = api_client(agent_user)

    listed = client.get(f"/api/v1/triage/tickets/{ticket.pk}/predictions").json()
    corrected = client.post(
        f"/api/v1/triage/predictions/{prediction.pk}/correction",
        {"label": "Pixel 8"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="fix-phone",
    )

    (entity,) = [row for row in listed if row["kind"] == "entity"]
    assert (entity["field_key"], entity["field_value"]) == ("phone", "Galaxy S24")
    assert corrected.status_code == 200
    assert corrected.json()["effective_label"] == "Pixel 8"
    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Pixel 8"
