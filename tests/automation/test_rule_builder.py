"""The routing rule form: condition and action rows that round-trip the rule's JSON."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import QueryDict
from django.urls import reverse

from concierge.automation.models import RoutingRule
from concierge.workspace.automation_forms import ACTION_PARTS, CONDITION_PARTS, RuleBuilder
from tests.automation.conftest import rule
from tests.conftest import signed_in_client
from tests.factories import CustomFieldFactory, TeamFactory, make_agent

pytestmark = pytest.mark.django_db


def _post_of(builder: RuleBuilder, **fields: Any) -> dict[str, Any]:
    """What the browser sends for ``builder``'s rows as the page shows them."""
    data: dict[str, Any] = {
        "name": "Rule", "events": ["ticket_created"], "is_active": "on", "editor": "form",
        "match": builder.match, "cond-count": len(builder.conditions),
        "act-count": len(builder.actions),
    }  # fmt: skip
    for row in builder.conditions:
        data.update({f"cond-{row.index}-{part}": row.values[part] for part in CONDITION_PARTS})
    for row in builder.actions:
        data.update({f"act-{row.index}-{part}": row.values[part] for part in ACTION_PARTS})
    data.update(fields)
    return data


def test_every_kind_of_condition_and_action_round_trips(admin_user: Any) -> None:
    billing, supervisors = TeamFactory(name="Billing"), TeamFactory(name="Supervisors")
    agent = make_agent(email="ann@concierge.test")
    CustomFieldFactory(key="plan", field_type="text")
    conditions = {"any": [
        {"field": "intent", "operator": "is", "value": "billing", "min_confidence": 0.7},
        {"field": "text", "operator": "contains_any", "value": ["refund", "charged twice"]},
        {"field": "team", "operator": "in", "value": [billing.pk, supervisors.pk]},
        {"field": "team", "operator": "is_not_set"},
        {"field": "customer.attribute", "operator": "is", "value": "pro", "key": "plan"},
        {"field": "channel", "operator": "is", "value": "chat"},
    ]}  # fmt: skip
    actions = [
        {"type": "set_team", "team": billing.pk},
        {"type": "set_priority", "priority": "high"},
        {"type": "add_tags", "tags": ["refund", "vip"]},
        {"type": "set_custom_field", "key": "plan", "value": "pro"},
        {"type": "assign", "agent": "team_strategy"},
        {"type": "assign", "agent": agent.pk},
        {"type": "notify", "recipients": "team", "via": "in_app", "message": "Look"},
        {"type": "notify", "recipients": [agent.pk], "via": "email", "message": ""},
        {"type": "escalate", "team": supervisors.pk, "priority": "urgent"},
        {"type": "hide_content", "reason": "Abusive language"},
        {"type": "stop"},
    ]
    stored = rule(admin_user, "Everything", conditions, actions)
    client = signed_in_client(admin_user)
    page = client.get(reverse("workspace:settings_routing_rule", args=[stored.pk]))
    builder = RuleBuilder.from_rule(stored.conditions, stored.actions)
    assert builder is not None
    assert 'name="cond-0-field"' in page.content.decode()  # the form, not the JSON

    response = client.post(
        reverse("workspace:settings_routing_rule", args=[stored.pk]), _post_of(builder)
    )

    assert response.status_code == 302
    saved = RoutingRule.objects.get(pk=stored.pk)
    assert (saved.conditions, saved.actions) == (stored.conditions, stored.actions)


def test_admin_builds_a_rule_from_rows(admin_user: Any) -> None:
    billing = TeamFactory(name="Billing")
    builder = RuleBuilder.from_post(QueryDict(""))
    builder.add_row("condition")
    builder.add_row("action")
    builder.conditions[0].values.update(
        field="text", operator="contains_any", value="refund, money back"
    )
    builder.actions[0].values.update(type="set_team", team=str(billing.pk))

    response = signed_in_client(admin_user).post(
        reverse("workspace:settings_routing_new"), _post_of(builder, name="Refunds")
    )

    assert response.status_code == 302
    saved = RoutingRule.objects.get(name="Refunds")
    assert saved.conditions == {
        "all": [{"field": "text", "operator": "contains_any", "value": ["refund", "money back"]}]
    }
    assert saved.actions == [{"type": "set_team", "team": billing.pk}]


def test_errors_show_on_the_row_and_part_they_name(admin_user: Any) -> None:
    builder = RuleBuilder.blank()
    builder.add_row("action")
    builder.conditions[0].values.update(field="intent", operator="is", value="billing",
                                        min_confidence="2")  # fmt: skip
    builder.actions[0].values.update(type="add_tags", tags="ok")
    builder.actions[1].values.update(type="set_team", team="999")

    response = signed_in_client(admin_user).post(
        reverse("workspace:settings_routing_new"), _post_of(builder)
    )

    assert response.status_code == 422
    assert not RoutingRule.objects.exists()
    page = response.content.decode()
    # The messages stand under the inputs they are about, and the typed values stay.
    confidence = page.index('name="cond-0-min_confidence"')
    assert page.index("A number from 0 to 1.", confidence) - confidence < 400
    team = page.index('id="act-1-team"')
    assert page.index("No team with id 999.", team) - team < 2000
    assert 'aria-invalid="true"' in page and 'value="billing"' in page


def test_add_a_condition_keeps_the_rows_and_saves_nothing(admin_user: Any) -> None:
    builder = RuleBuilder.blank()
    builder.conditions[0].values.update(field="channel", operator="is", value="chat")

    response = signed_in_client(admin_user).post(
        reverse("workspace:settings_routing_new"), _post_of(builder, builder_add="condition")
    )

    page = response.content.decode()
    assert response.status_code == 200 and not RoutingRule.objects.exists()
    assert 'name="cond-1-field"' in page and 'value="chat"' in page


def test_a_rule_with_nested_groups_opens_in_the_json_editor(admin_user: Any) -> None:
    nested = {"all": [{"any": [{"field": "channel", "operator": "is", "value": "chat"}]}]}
    stored = rule(admin_user, "Nested", nested, [{"type": "stop"}])

    page = signed_in_client(admin_user).get(
        reverse("workspace:settings_routing_rule", args=[stored.pk])
    )

    html = page.content.decode()
    assert "nested condition groups" in html and 'name="conditions"' in html
    assert 'name="cond-0-field"' not in html
