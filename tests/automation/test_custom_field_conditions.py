"""Routing rules on custom fields: strict validation, evaluation, and triage filling them first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from concierge.automation.actions import process_ticket_event, save_rule
from concierge.automation.models import RoutingRule
from concierge.automation.rules import RuleContext, evaluate_condition
from concierge.core.errors import ValidationFailed
from concierge.tickets.actions import save_custom_field, update_ticket
from concierge.tickets.models import AuditEvent, FieldType
from tests.automation.conftest import new_ticket, rule
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(admin_user: Any) -> None:
    save_custom_field(
        actor=admin_user,
        key="phone",
        label="Phone",
        field_type=FieldType.DROPDOWN,
        choices=["Galaxy S24", "Pixel 8"],
        detect_from_messages=True,
        detection_phrases={"Galaxy S24": ["s24"]},
    )
    save_custom_field(
        actor=admin_user,
        key="devices",
        label="Devices",
        field_type=FieldType.MULTI_SELECT,
        choices=["Watch", "Tablet"],
    )
    save_custom_field(actor=admin_user, key="seats", label="Seats", field_type=FieldType.NUMBER)


def _context(custom_fields: dict[str, Any]) -> RuleContext:
    return RuleContext(
        event="ticket_created", channel="portal", priority="normal", team_id=None,
        organization_id=None, mailbox_id=None, chat_channel_id=None, subject="", body="",
        tags=set(), customer_tags=set(), customer_language="en", customer_attributes={},
        organization_attributes={}, labels={}, now=datetime(2026, 1, 5, tzinfo=UTC),
        is_open=lambda hours_id: True, custom_fields=custom_fields,
    )  # fmt: skip


def _condition_errors(admin_user: Any, condition: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        save_rule(
            actor=admin_user,
            name="Rule",
            events=["ticket_created"],
            conditions={"all": [condition]},
            actions=[{"type": "stop"}],
        )
    assert not RoutingRule.objects.exists()
    return refused.value.field_errors


# --- validation ---------------------------------------------------------------------------------


def test_unknown_custom_field_key_is_refused(admin_user, fields) -> None:
    errors = _condition_errors(
        admin_user, {"field": "custom_field", "key": "colour", "operator": "is", "value": "red"}
    )

    assert errors == {"conditions.all.0.key": ["No active custom field with key 'colour'."]}


def test_value_must_be_an_option_of_the_field(admin_user, fields) -> None:
    errors = _condition_errors(
        admin_user,
        {"field": "custom_field", "key": "phone", "operator": "in", "value": ["Pixel 8", "Nokia"]},
    )

    assert list(errors) == ["conditions.all.0.value"]
    assert errors["conditions.all.0.value"][0].startswith("'Nokia': Choose one of")


def test_multi_select_takes_includes_any_not_is(admin_user, fields) -> None:
    errors = _condition_errors(
        admin_user, {"field": "custom_field", "key": "devices", "operator": "is", "value": "Watch"}
    )

    assert "includes_any, is_set, is_not_set" in errors["conditions.all.0.operator"][0]


def test_includes_any_is_only_for_multi_selects(admin_user, fields) -> None:
    errors = _condition_errors(
        admin_user,
        {"field": "custom_field", "key": "phone", "operator": "includes_any", "value": ["Pixel 8"]},
    )

    assert "conditions.all.0.operator" in errors


def test_missing_key_and_extra_keys_are_refused(admin_user, fields) -> None:
    errors = _condition_errors(
        admin_user,
        {"field": "custom_field", "operator": "is_set", "min_confidence": 0.5},
    )

    assert set(errors) == {"conditions.all.0.key", "conditions.all.0"}


def test_valid_condition_is_stored_typed_as_the_field_stores_it(admin_user, fields) -> None:
    saved = rule(
        admin_user,
        "Big customers",
        {"all": [{"field": "custom_field", "key": "seats", "operator": "in", "value": ["10", 20]}]},
        [{"type": "stop"}],
    )

    assert saved.conditions == {
        "all": [{"field": "custom_field", "key": "seats", "operator": "in", "value": [10, 20]}]
    }


# --- evaluation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "values", "matched"),
    [
        ("is", "Pixel 8", {"phone": "Pixel 8"}, True),
        ("is", "pixel 8", {"phone": "Pixel 8"}, True),  # text in any case
        ("is", "Pixel 8", {}, False),
        ("is_not", "Pixel 8", {}, True),
        ("in", ["Galaxy S24", "Pixel 8"], {"phone": "Galaxy S24"}, True),
        ("not_in", ["Galaxy S24"], {"phone": "Pixel 8"}, True),
        ("is_set", None, {"phone": "Pixel 8"}, True),
        ("is_set", None, {"phone": ""}, False),
        ("is_not_set", None, {}, True),
    ],
)
def test_dropdown_condition(operator, value, values, matched) -> None:
    condition = {"field": "custom_field", "key": "phone", "operator": operator}
    if value is not None:
        condition["value"] = value

    assert evaluate_condition(condition, _context(values)).matched is matched


def test_multi_select_includes_any() -> None:
    condition = {
        "field": "custom_field",
        "key": "devices",
        "operator": "includes_any",
        "value": ["Watch"],
    }

    assert evaluate_condition(condition, _context({"devices": ["Tablet", "Watch"]})).matched
    assert not evaluate_condition(condition, _context({"devices": ["Tablet"]})).matched
    assert not evaluate_condition(condition, _context({})).matched


def test_rule_reads_the_ticket_current_value(admin_user, fields) -> None:
    team = TeamFactory(name="Android")
    rule(
        admin_user,
        "Pixels to Android",
        {"all": [{"field": "custom_field", "key": "phone", "operator": "is", "value": "Pixel 8"}]},
        [{"type": "set_team", "team": team.pk}],
    )
    ticket = new_ticket(body="no phone named here")
    update_ticket(actor=admin_user, ticket=ticket, changes={"custom_fields": {"phone": "Pixel 8"}})

    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    ticket.refresh_from_db()
    assert ticket.team == team


def test_triage_fills_the_field_before_the_rules_run(admin_user, fields, enable_triage) -> None:
    team = TeamFactory(name="Samsung")
    rule(
        admin_user,
        "Samsung phones",
        {
            "all": [
                {"field": "custom_field", "key": "phone", "operator": "is", "value": "Galaxy S24"}
            ]
        },
        [{"type": "set_team", "team": team.pk}],
    )
    ticket = new_ticket(subject="Screen flicker", body="My S24 screen flickers since the update.")

    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    ticket.refresh_from_db()
    assert ticket.custom_fields["phone"] == "Galaxy S24"
    assert ticket.team == team
    vias = list(AuditEvent.objects.filter(ticket=ticket).order_by("id").values_list("field", "via"))
    assert vias.index(("custom_fields.phone", "ai triage")) < vias.index(
        ("rule", "rule: Samsung phones")
    )
