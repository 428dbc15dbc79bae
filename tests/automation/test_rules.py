"""Routing rules: strict validation, each condition and action, order and stop, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core import mail

from concierge.accounts.models import Team
from concierge.automation.actions import (
    delete_rule,
    move_rule,
    process_ticket_event,
    reorder_rules,
    save_business_hours,
    save_rule,
    set_rule_active,
)
from concierge.automation.models import PipelineRun, RoutingRule
from concierge.automation.rules import RuleContext, evaluate_condition, evaluate_group
from concierge.automation.services import preview_rules
from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.core.models import Tag
from concierge.customers.models import Organization
from concierge.search.sources import load_tickets
from concierge.tickets.actions import add_entry
from concierge.tickets.models import AuditEvent, Entry, Priority, Ticket
from tests.automation.conftest import new_ticket, rule
from tests.factories import CustomerFactory, CustomFieldFactory, TeamFactory, make_agent

pytestmark = pytest.mark.django_db

TO_TEAM = "set_team"


def _context(**overrides: Any) -> RuleContext:
    values: dict[str, Any] = {
        "event": "ticket_created",
        "channel": "portal",
        "priority": "normal",
        "team_id": None,
        "organization_id": None,
        "mailbox_id": None,
        "chat_channel_id": None,
        "subject": "Charged twice",
        "body": "I was charged twice for my subscription and want a refund now.",
        "tags": set(),
        "customer_tags": set(),
        "customer_language": "en",
        "customer_attributes": {},
        "organization_attributes": {},
        "labels": {},
        "now": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        "is_open": lambda hours_id: True,
    }
    values.update(overrides)
    return RuleContext(**values)


# --- validation ---------------------------------------------------------------------------


def _errors(admin_user: Any, **fields: Any) -> dict[str, list[str]]:
    document = {
        "name": "Rule",
        "events": ["ticket_created"],
        "conditions": {"all": []},
        "actions": [{"type": "stop"}],
        **fields,
    }
    with pytest.raises(ValidationFailed) as raised:
        save_rule(actor=admin_user, **document)
    assert not RoutingRule.objects.exists()
    return raised.value.field_errors


def test_unknown_field_is_refused_with_the_path_of_the_condition(admin_user):
    errors = _errors(
        admin_user, conditions={"all": [{"field": "mood", "operator": "is", "value": "x"}]}
    )
    assert list(errors) == ["conditions.all.0.field"]
    assert "Unknown field 'mood'" in errors["conditions.all.0.field"][0]


def test_operator_must_fit_the_field(admin_user):
    errors = _errors(
        admin_user,
        conditions={"any": [{"field": "subject", "operator": "is", "value": "refund"}]},
    )
    assert "subject takes the operators contains_any" in errors["conditions.any.0.operator"][0]


@pytest.mark.parametrize(
    ("conditions", "path"),
    [
        (
            {"all": [{"field": "channel", "operator": "is", "value": "fax"}]},
            "conditions.all.0.value",
        ),
        ({"all": [{"field": "team", "operator": "is", "value": 999}]}, "conditions.all.0.value"),
        (
            {
                "all": [
                    {"field": "intent", "operator": "is", "value": "billing", "min_confidence": 2}
                ]
            },
            "conditions.all.0.min_confidence",
        ),
        (
            {"all": [{"field": "customer.attribute", "operator": "is", "value": "x"}]},
            "conditions.all.0.key",
        ),
        (
            {"all": [{"field": "text", "operator": "contains_any", "value": []}]},
            "conditions.all.0.value",
        ),
        (
            {"all": [{"field": "business_hours", "operator": "is_open", "value": 42}]},
            "conditions.all.0.value",
        ),
        ({"all": [{"any": [{"any": [{"any": []}]}]}]}, "conditions.all.0.any.0.any.0.any"),
        ({"either": []}, "conditions"),
    ],
)
def test_bad_conditions_name_the_field(admin_user, conditions, path):
    assert path in _errors(admin_user, conditions=conditions)


@pytest.mark.parametrize(
    ("actions", "path"),
    [
        ([], "actions"),
        ([{"type": "explode"}], "actions.0.type"),
        ([{"type": "set_team", "team": 12345}], "actions.0.team"),
        ([{"type": "set_priority", "priority": "asap"}], "actions.0.priority"),
        ([{"type": "assign", "agent": "whoever"}], "actions.0.agent"),
        ([{"type": "notify", "recipients": "everyone"}], "actions.0.recipients"),
        ([{"type": "set_custom_field", "key": "nope", "value": 1}], "actions.0.key"),
        ([{"type": "stop", "now": True}], "actions.0"),
    ],
)
def test_bad_actions_name_the_field(admin_user, actions, path):
    assert path in _errors(admin_user, actions=actions)


def test_events_are_required_and_known(admin_user):
    assert "events" in _errors(admin_user, events=[])
    assert "events" in _errors(admin_user, events=["ticket_deleted"])


def test_custom_field_value_is_checked_against_its_type(admin_user):
    CustomFieldFactory(key="plan", field_type="dropdown", choices=["basic", "pro"])
    errors = _errors(
        admin_user, actions=[{"type": "set_custom_field", "key": "plan", "value": "gold"}]
    )
    assert errors["actions.0.value"] == ["Choose one of: basic, pro."]


def test_valid_rule_is_stored_normalised_and_goes_last(admin_user, billing):
    first = rule(admin_user, "First", {"all": []}, [{"type": "stop"}])
    second = rule(
        admin_user,
        "Billing words",
        {
            "any": [
                {
                    "field": "text",
                    "operator": "contains_any",
                    "value": ["Refund", " double  charge "],
                }
            ]
        },
        [{"type": "add_tags", "tags": ["Billing Issue"]}, {"type": TO_TEAM, "team": billing.pk}],
    )
    assert second.position > first.position
    assert second.conditions["any"][0]["value"] == ["refund", "double charge"]
    assert second.actions[0]["tags"] == ["billing-issue"]


def test_only_admins_write_rules(agent_user, admin_user):
    with pytest.raises(PermissionDenied):
        save_rule(
            actor=agent_user,
            name="Mine",
            events=["ticket_created"],
            conditions={},
            actions=[{"type": "stop"}],
        )
    existing = rule(admin_user, "Existing", {"all": []}, [{"type": "stop"}])
    with pytest.raises(PermissionDenied):
        delete_rule(actor=agent_user, rule=existing)
    with pytest.raises(PermissionDenied):
        set_rule_active(actor=agent_user, rule=existing, is_active=False)
    assert RoutingRule.objects.get().is_active


def test_duplicate_names_are_refused(admin_user):
    rule(admin_user, "Same", {"all": []}, [{"type": "stop"}])
    assert _errors_for_duplicate(admin_user) == {"name": ["Already taken."]}


def _errors_for_duplicate(admin_user: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as raised:
        rule(admin_user, "same", {"all": []}, [{"type": "stop"}])
    return raised.value.field_errors


# --- conditions (pure evaluation) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"field": "channel", "operator": "is", "value": "portal"}, {}, True),
        ({"field": "channel", "operator": "in", "value": ["email", "chat"]}, {}, False),
        ({"field": "mailbox", "operator": "is", "value": 7}, {"mailbox_id": 7}, True),
        (
            {"field": "chat_channel", "operator": "is_not", "value": 3},
            {"chat_channel_id": 3},
            False,
        ),
        ({"field": "text", "operator": "contains_any", "value": ["refund"]}, {}, True),
        ({"field": "subject", "operator": "contains_all", "value": ["charged", "twice"]}, {}, True),
        ({"field": "body", "operator": "contains_none", "value": ["refund"]}, {}, False),
        # Whole words only: "charge" is not found inside "charged".
        ({"field": "text", "operator": "contains_any", "value": ["charge"]}, {}, False),
        ({"field": "priority", "operator": "is", "value": "normal"}, {}, True),
        ({"field": "team", "operator": "is_not_set"}, {}, True),
        (
            {"field": "tags", "operator": "includes_any", "value": ["vip"]},
            {"tags": {"vip", "x"}},
            True,
        ),
        (
            {"field": "customer.tags", "operator": "excludes_all", "value": ["vip"]},
            {"customer_tags": {"vip"}},
            False,
        ),
        (
            {"field": "customer.language", "operator": "in", "value": ["fr", "de"]},
            {"customer_language": "FR"},
            True,
        ),
        (
            {"field": "customer.attribute", "key": "plan", "operator": "is", "value": "Enterprise"},
            {"customer_attributes": {"plan": "enterprise"}},
            True,
        ),
        ({"field": "customer.attribute", "key": "plan", "operator": "is_set"}, {}, False),
        (
            {
                "field": "organization.attribute",
                "key": "tier",
                "operator": "contains",
                "value": "gold",
            },
            {"organization_attributes": {"tier": "Gold plus"}},
            True,
        ),
        ({"field": "organization", "operator": "is", "value": 5}, {"organization_id": 5}, True),
        ({"field": "organization", "operator": "is_set"}, {}, False),
        (
            {"field": "intent", "operator": "is", "value": "billing", "min_confidence": 0.7},
            {"labels": {"intent": ("Billing", 0.9)}},
            True,
        ),
        (
            {"field": "intent", "operator": "is", "value": "billing", "min_confidence": 0.7},
            {"labels": {"intent": ("billing", 0.5)}},
            False,
        ),
        # No prediction of that kind: a prediction condition never matches, even "is_not".
        ({"field": "sentiment", "operator": "is_not", "value": "positive"}, {}, False),
        (
            {"field": "sentiment", "operator": "is", "value": "negative"},
            {"labels": {"sentiment": ("negative", 0.8)}},
            True,
        ),
        (
            {"field": "language", "operator": "in", "value": ["en"]},
            {"labels": {"language": ("en", 0.99)}},
            True,
        ),
        (
            {"field": "urgency", "operator": "is", "value": "urgent"},
            {"labels": {"urgency": ("high", 0.9)}},
            False,
        ),
        (
            {"field": "abuse", "operator": "in", "value": ["abusive", "profanity"]},
            {"labels": {"abuse": ("abusive", 0.95)}},
            True,
        ),
        (
            {"field": "spam", "operator": "is", "value": "spam"},
            {"labels": {"spam": ("ham", 0.95)}},
            False,
        ),
        (
            {"field": "business_hours", "operator": "is_closed", "value": 1},
            {"is_open": lambda _: False},
            True,
        ),
        (
            {"field": "business_hours", "operator": "is_open", "value": 1},
            {"is_open": lambda _: False},
            False,
        ),
    ],
)
def test_each_condition(condition, context, expected):
    assert evaluate_condition(condition, _context(**context)).matched is expected


def test_all_and_any_groups_nest():
    group = {
        "all": [
            {"field": "channel", "operator": "is", "value": "portal"},
            {
                "any": [
                    {"field": "text", "operator": "contains_any", "value": ["invoice"]},
                    {"field": "text", "operator": "contains_any", "value": ["refund"]},
                ]
            },
        ]
    }
    assert evaluate_group(group, _context())[0] is True
    assert evaluate_group(group, _context(channel="email"))[0] is False
    assert evaluate_group({"all": []}, _context())[0] is True
    assert evaluate_group({"any": []}, _context())[0] is False


def test_business_hours_condition_reads_the_schedule(admin_user, billing):
    hours = save_business_hours(
        actor=admin_user, name="Office", timezone="UTC", schedule={"mon": [["09:00", "17:00"]]}
    )
    after_hours = rule(
        admin_user,
        "After hours",
        {"all": [{"field": "business_hours", "operator": "is_closed", "value": hours.pk}]},
        [{"type": "add_tags", "tags": ["after-hours"]}],
    )
    ticket = new_ticket()
    monday_noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    from concierge.automation.services import rule_context

    assert not evaluate_group(
        after_hours.conditions, rule_context(ticket=ticket, event="ticket_created", at=monday_noon)
    )[0]
    assert evaluate_group(
        after_hours.conditions, rule_context(ticket=ticket, event="ticket_created", at=sunday)
    )[0]


def test_customer_and_organization_conditions_read_the_crm(admin_user):
    organization = Organization.objects.create(name="Acme", custom_attributes={"tier": "gold"})
    vip = CustomerFactory(organization=organization, custom_attributes={"plan": "pro"})
    vip.tags.add(Tag.objects.create(name="vip"))
    rule(
        admin_user,
        "VIP",
        {
            "all": [
                {"field": "customer.tags", "operator": "includes_any", "value": ["vip"]},
                {"field": "organization", "operator": "is", "value": organization.pk},
                {
                    "field": "organization.attribute",
                    "key": "tier",
                    "operator": "is",
                    "value": "gold",
                },
                {
                    "field": "customer.attribute",
                    "key": "plan",
                    "operator": "in",
                    "value": ["pro", "max"],
                },
            ]
        },
        [{"type": "set_priority", "priority": "high"}],
    )
    vip_ticket = new_ticket(requester=vip)
    other_ticket = new_ticket()
    process_ticket_event(ticket_id=vip_ticket.pk, event="ticket_created")
    process_ticket_event(ticket_id=other_ticket.pk, event="ticket_created")
    assert Ticket.objects.get(pk=vip_ticket.pk).priority == Priority.HIGH
    assert Ticket.objects.get(pk=other_ticket.pk).priority == Priority.NORMAL


# --- actions, order, stop, audit --------------------------------------------------------------


def test_rule_actions_change_the_ticket_and_the_audit_says_which_rule(admin_user, billing):
    CustomFieldFactory(key="product_area", field_type="text")
    agent = make_agent(email="bea@concierge.test", name="Bea Billing")
    rule(
        admin_user,
        "Refunds to billing",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["refund"]}]},
        [
            {"type": TO_TEAM, "team": billing.pk},
            {"type": "set_priority", "priority": "high"},
            {"type": "add_tags", "tags": ["refund"]},
            {"type": "set_custom_field", "key": "product_area", "value": "Payments"},
            {"type": "assign", "agent": agent.pk},
        ],
    )
    ticket = new_ticket(subject="Charged twice", body="I want a refund.")
    run = process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    ticket.refresh_from_db()
    assert ticket.team == billing
    assert ticket.priority == Priority.HIGH
    assert list(ticket.tags.values_list("name", flat=True)) == ["refund"]
    assert ticket.custom_fields == {"product_area": "Payments"}
    assert ticket.assignee == agent
    audit = AuditEvent.objects.filter(ticket=ticket, via="rule: Refunds to billing")
    assert set(audit.values_list("field", flat=True)) == {
        "rule", "team", "priority", "tags", "custom_fields.product_area", "assignee", "status",
    }  # fmt: skip
    assert audit.get(field="rule").after == "Refunds to billing"
    assert run is not None and [fired["name"] for fired in run.fired_rules] == [
        "Refunds to billing"
    ]


def test_rules_run_in_order_and_stop_ends_processing(admin_user, billing):
    shipping: Team = TeamFactory(name="Shipping")  # type: ignore[assignment]
    rule(admin_user, "Tag everything", {"all": []}, [{"type": "add_tags", "tags": ["seen"]}])
    first = rule(
        admin_user,
        "Billing first",
        {"all": []},
        [{"type": TO_TEAM, "team": billing.pk}, {"type": "stop"}],
    )
    rule(admin_user, "Shipping later", {"all": []}, [{"type": TO_TEAM, "team": shipping.pk}])
    ticket = new_ticket()
    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    ticket.refresh_from_db()
    assert ticket.team == billing
    assert set(ticket.tags.values_list("name", flat=True)) == {"seen"}
    assert not AuditEvent.objects.filter(ticket=ticket, via="rule: Shipping later").exists()

    # Moving the stopping rule last lets the shipping rule run first; the last writer wins.
    move_rule(actor=admin_user, rule=first, direction="down")
    second_ticket = new_ticket()
    process_ticket_event(ticket_id=second_ticket.pk, event="ticket_created")
    second_ticket.refresh_from_db()
    assert second_ticket.team == billing
    assert AuditEvent.objects.filter(ticket=second_ticket, via="rule: Shipping later").exists()


def test_later_rules_see_what_earlier_rules_changed(admin_user, billing):
    rule(admin_user, "Set billing", {"all": []}, [{"type": TO_TEAM, "team": billing.pk}])
    rule(
        admin_user,
        "Billing gets a tag",
        {"all": [{"field": "team", "operator": "is", "value": billing.pk}]},
        [{"type": "add_tags", "tags": ["money"]}],
    )
    ticket = new_ticket()
    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    assert list(ticket.tags.values_list("name", flat=True)) == ["money"]


def test_reorder_needs_every_rule_once(admin_user):
    one = rule(admin_user, "One", {"all": []}, [{"type": "stop"}])
    two = rule(admin_user, "Two", {"all": []}, [{"type": "stop"}])
    with pytest.raises(ValidationFailed):
        reorder_rules(actor=admin_user, rule_ids=[two.pk])
    reorder_rules(actor=admin_user, rule_ids=[two.pk, one.pk])
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Two", "One"]


def test_inactive_rules_and_other_events_do_not_fire(admin_user, billing):
    inactive = rule(
        admin_user, "Off", {"all": []}, [{"type": "set_priority", "priority": "urgent"}]
    )
    set_rule_active(actor=admin_user, rule=inactive, is_active=False)
    rule(
        admin_user,
        "Replies only",
        {"all": []},
        [{"type": TO_TEAM, "team": billing.pk}],
        events=["customer_reply"],
    )
    ticket = new_ticket()
    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.team_id) == (Priority.NORMAL, None)

    reply = add_entry(actor=None, ticket=ticket, body="Any news?", author_customer=ticket.requester)
    process_ticket_event(ticket_id=ticket.pk, event="customer_reply", entry_id=reply.pk)
    ticket.refresh_from_db()
    assert ticket.team == billing


def test_notify_emails_the_team(admin_user, billing, django_capture_on_commit_callbacks):
    members = [make_agent(email=f"m{i}@concierge.test") for i in range(2)]
    billing.members.add(*members)
    rule(
        admin_user,
        "Tell billing",
        {"all": []},
        [
            {"type": TO_TEAM, "team": billing.pk},
            {
                "type": "notify",
                "recipients": "team",
                "via": "email",
                "message": "Look at this one.",
            },
        ],
    )
    ticket = new_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    notices = [m for m in mail.outbox if "Look at this one." in m.body]
    assert sorted(m.to[0] for m in notices) == ["m0@concierge.test", "m1@concierge.test"]


def test_escalation_moves_raises_tags_and_notifies(
    admin_user, billing, django_capture_on_commit_callbacks
):
    supervisors: Team = TeamFactory(name="Supervisors")  # type: ignore[assignment]
    supervisors.members.add(make_agent(email="boss@concierge.test"))
    rule(
        admin_user,
        "Angry customers",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["unacceptable"]}]},
        [{"type": "escalate", "team": supervisors.pk, "priority": "urgent"}],
    )
    ticket = new_ticket(body="This is unacceptable.", team=billing)
    with django_capture_on_commit_callbacks(execute=True):
        process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    ticket.refresh_from_db()
    assert (ticket.team, ticket.priority) == (supervisors, Priority.URGENT)
    assert "escalated" in ticket.tags.values_list("name", flat=True)
    assert any(m.to == ["boss@concierge.test"] and "escalated" in m.body for m in mail.outbox)


def test_hide_content_marks_the_message_and_records_it(admin_user):
    rule(
        admin_user,
        "Abuse",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["idiots"]}]},
        [{"type": "hide_content", "reason": "Abusive language"}],
        events=["ticket_created", "customer_reply"],
    )
    ticket = new_ticket(body="Hello")
    reply = add_entry(
        actor=None, ticket=ticket, body="You idiots!", author_customer=ticket.requester
    )
    process_ticket_event(ticket_id=ticket.pk, event="customer_reply", entry_id=reply.pk)
    reply.refresh_from_db()
    assert reply.metadata["content_warning"]["reason"] == "Abusive language"
    assert reply.body_source == "You idiots!"  # kept: hidden from view, not destroyed
    first = Entry.objects.filter(ticket=ticket).order_by("id").first()
    assert first is not None and "content_warning" not in first.metadata
    assert AuditEvent.objects.filter(ticket=ticket, field="content_warning").count() == 1
    # ...and left out of the ticket's search document, so no snippet shows it.
    document = load_tickets([ticket.pk])[ticket.pk]
    assert document is not None
    assert "Hello" in document.body and "idiots" not in document.body


def test_a_failing_rule_is_recorded_and_the_next_still_runs(admin_user):
    field = CustomFieldFactory(key="plan", field_type="text")
    rule(
        admin_user,
        "Set plan",
        {"all": []},
        [{"type": "set_custom_field", "key": "plan", "value": "pro"}],
    )
    rule(admin_user, "Tag", {"all": []}, [{"type": "add_tags", "tags": ["after"]}])
    field.is_active = False  # the field went away after the rule was written
    field.save()
    ticket = new_ticket()
    run = process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    assert run is not None
    assert "error" in run.fired_rules[0]
    assert list(ticket.tags.values_list("name", flat=True)) == ["after"]


def test_pipeline_is_idempotent_per_event(admin_user, billing):
    rule(
        admin_user,
        "Tag",
        {"all": []},
        [{"type": "set_priority", "priority": "high"}, {"type": TO_TEAM, "team": billing.pk}],
    )
    ticket = new_ticket()
    assert process_ticket_event(ticket_id=ticket.pk, event="ticket_created") is not None
    Ticket.objects.filter(pk=ticket.pk).update(priority=Priority.LOW)  # an agent changed it since
    assert process_ticket_event(ticket_id=ticket.pk, event="ticket_created") is None
    ticket.refresh_from_db()
    assert ticket.priority == Priority.LOW
    assert PipelineRun.objects.filter(ticket=ticket).count() == 1
    assert AuditEvent.objects.filter(ticket=ticket, field="rule").count() == 1


def test_nothing_to_do_writes_nothing():
    ticket = new_ticket()
    assert process_ticket_event(ticket_id=ticket.pk, event="ticket_created") is None
    assert not PipelineRun.objects.exists()


def test_preview_shows_what_would_fire_without_changing_anything(admin_user, billing):
    rule(
        admin_user,
        "Refunds",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["refund"]}]},
        [{"type": TO_TEAM, "team": billing.pk}, {"type": "stop"}],
    )
    rule(admin_user, "After stop", {"all": []}, [{"type": "add_tags", "tags": ["x"]}])
    ticket = new_ticket(body="A refund please")
    previews = preview_rules(user=admin_user, ticket=ticket, event="ticket_created")
    assert [(p.rule.name, p.would_fire) for p in previews] == [
        ("Refunds", True),
        ("After stop", False),
    ]
    assert previews[0].actions == ["Set team to Billing", "Stop: no later rule runs"]
    assert "found refund" in previews[0].conditions[0].explanation
    ticket.refresh_from_db()
    assert ticket.team_id is None
    assert not AuditEvent.objects.filter(ticket=ticket, field="rule").exists()


def test_agents_cannot_preview_rules(agent_user):
    with pytest.raises(PermissionDenied):
        preview_rules(user=agent_user, ticket=new_ticket(), event="ticket_created")


def test_spam_is_not_routed(admin_user, billing):
    rule(admin_user, "Everything", {"all": []}, [{"type": TO_TEAM, "team": billing.pk}])
    ticket = new_ticket(tags=["spam"])
    run = process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    assert run is not None and run.outcome == "spam: not routed"
    ticket.refresh_from_db()
    assert ticket.team_id is None


def test_new_ticket_runs_the_pipeline_after_commit(
    admin_user, billing, django_capture_on_commit_callbacks
):
    rule(admin_user, "All to billing", {"all": []}, [{"type": TO_TEAM, "team": billing.pk}])
    with django_capture_on_commit_callbacks(execute=True):
        ticket = new_ticket()
    ticket.refresh_from_db()
    assert ticket.team == billing
