"""Demo routing: triage categories, business hours, example rules, team strategies, agent skills.

Everything goes through the real actions (as the admin), so the demo shows
rules exactly as an admin would have written them. Running it again changes
nothing that exists (safe after ``load_demo`` on an already-loaded desk).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from concierge.accounts import actions as account_actions
from concierge.accounts.models import Role, Team, User
from concierge.ai.models import LABELLED_HISTORY
from concierge.automation import actions
from concierge.automation.models import (
    AgentRoutingProfile,
    AssignmentStrategy,
    BusinessHours,
    RoutingRule,
    TeamRouting,
)
from concierge.demo import content, generator
from concierge.tickets.models import Channel, Ticket

# The intent categories the demo desk routes on, with few-shot examples. They
# cover the demo's kinds of request (content.py: orders, returns and
# exchanges, product questions; payments and plans; no service, mobile data,
# picture messages), written in other words than the generated requests, as
# an admin would describe their desk. Few-shot (before the demo trains its
# own model) on 400 generated requests, subject + first message, three seeds:
# 89 % go to their team's category, 0.3 % to another one, the rest to "none
# of these" (mostly product questions naming odd attributes); the first,
# narrower lists gave 45 % and 48 % "none of these". tests/demo checks it.
CATEGORIES = {
    "billing": (
        "Charges, refunds, invoices, payment methods, plans and lines suspended for payment.",
        [
            "I was charged twice for my subscription",
            "Please refund the double charge on my card",
            "My invoice shows the wrong amount",
            "How do I update my credit card?",
            "I'd like to use a different payment method for my order",
            "Why is there an extra fee on my bill?",
            "I want my money back",
            "My phone line was cut off because a payment failed",
            "I want to switch to a cheaper plan",
            "I keep running out of data, which plan should I take?",
            "How much does the unlimited plan cost per month?",
        ],
    ),
    "technical": (
        "The product or service does not work: errors, outages, no signal, mobile data, "
        "picture messages (MMS), set-up, devices.",
        [
            "The app crashes when I log in",
            "I have no signal since this morning",
            "My phone says no service and I cannot make calls",
            "My mobile data stopped working",
            "The internet on my phone is very slow",
            "Photos won't send in text messages",
            "I get an error when I reset my password",
            "How do I set up my new phone?",
        ],
    ),
    "shipping": (
        "Orders: delivery, tracking, changing or cancelling an order, returns, exchanges "
        "and questions about products.",
        [
            "Where is my parcel?",
            "My order has not arrived yet",
            "The tracking number does not work",
            "I want to return these shoes",
            "The blender I received is broken, I'd like to send it back",
            "Can I swap the jacket I bought for a bigger size?",
            "I'd like to exchange an item from my order for another colour",
            "Please cancel my order",
            "Can I change the delivery address of my order?",
            "Is this backpack available in black?",
            "Do you have these headphones in a wireless version?",
            "Do you still stock this item? I can't find it in the shop",
        ],
    ),
}
SUPPORT_HOURS = "Support hours (London)"
# Demo agents (by email prefix before "@") -> (skills, languages).
AGENT_SKILLS = {
    "admin": (["billing", "refunds"], ["en", "fr"]),  # generator.ADMIN_EMAIL
    "agent": (["shipping", "orders", "technical"], ["en", "es"]),
    "priya": (["technical"], ["en", "hi"]),
    "tomas": (["billing", "shipping"], ["en", "de", "es"]),
}
# Where abusive messages escalate to: the admin (Ada) leads it; least open tickets.
SUPERVISOR_TEAM = "Supervisors"
SUPERVISOR_PREFIXES = ("admin",)  # generator.ADMIN_EMAIL
# One abusive request, routed by the real pipeline when the demo loads: it shows the
# hidden-content warning and the escalation (Supervisors' queue, the admin's bell).
ESCALATION_EXAMPLE_SUBJECT = "Charged twice AGAIN?!"
ESCALATION_EXAMPLE_BODY = (
    "You useless idiots charged my card twice again. This is the third time. "
    "Fix it now, morons, or I am leaving."
)
TEAM_STRATEGIES = {
    "billing": AssignmentStrategy.SKILLS,
    "technical": AssignmentStrategy.LEAST_OPEN,
    "orders": AssignmentStrategy.ROUND_ROBIN,
}


def _categories(admin: User) -> None:
    try:
        from concierge.ai.actions import save_category
        from concierge.ai.models import Category
    except ImportError:  # the AI app is optional for routing
        return
    for name, (description, examples) in CATEGORIES.items():
        if not Category.objects.filter(name__iexact=name).exists():
            save_category(
                actor=admin, name=name, description=description, examples="\n".join(examples)
            )


def _rules(teams: dict[str, Team], hours: BusinessHours, supervisors: Team) -> list[dict[str, Any]]:
    def intent_to(category: str, team_key: str) -> dict[str, Any]:
        return {
            "name": f"{category.capitalize()} requests to {teams[team_key].name}",
            "description": f"Predicted intent {category} (confidence 0.5 or more).",
            "events": ["ticket_created"],
            "conditions": {
                "all": [
                    {"field": "intent", "operator": "is", "value": category, "min_confidence": 0.5},
                    {"field": "team", "operator": "is_not_set"},
                ]
            },
            "actions": [
                {"type": "set_team", "team": teams[team_key].pk},
                {"type": "add_tags", "tags": [category]},
            ],
        }

    return [
        {
            "name": "Abusive messages: hide and escalate",
            "description": "Agents see a warning instead of the text; the ticket moves to "
            f"{supervisors.name} (priority high, tagged escalated), who are notified.",
            "events": ["ticket_created", "customer_reply"],
            "conditions": {
                "any": [
                    {"field": "abuse", "operator": "is", "value": "abusive", "min_confidence": 0.6}
                ]
            },
            "actions": [
                {"type": "hide_content", "reason": "Abusive language"},
                {"type": "escalate", "team": supervisors.pk, "priority": "high"},
                {"type": "add_tags", "tags": ["abusive"]},
                {"type": "stop"},
            ],
        },
        intent_to("billing", "billing"),
        intent_to("technical", "technical"),
        intent_to("shipping", "orders"),
        {
            "name": "Refund keywords to Billing",
            "description": "A fallback when the intent is unsure.",
            "events": ["ticket_created"],
            "conditions": {
                "all": [
                    {"field": "team", "operator": "is_not_set"},
                    {
                        "field": "text",
                        "operator": "contains_any",
                        "value": ["refund", "charged twice", "double charge", "invoice"],
                    },
                ]
            },
            "actions": [{"type": "set_team", "team": teams["billing"].pk}],
        },
        {
            "name": "Very unhappy customers: high priority",
            "description": "Strongly negative messages jump the queue and the team hears of it.",
            "events": ["ticket_created", "customer_reply"],
            "conditions": {
                "all": [
                    {
                        "field": "sentiment",
                        "operator": "is",
                        "value": "negative",
                        "min_confidence": 0.8,
                    }
                ]
            },
            "actions": [
                {"type": "set_priority", "priority": "high"},
                {
                    "type": "notify",
                    "recipients": "team",
                    "via": "in_app",
                    "message": "A very unhappy customer is waiting.",
                },
            ],  # fmt: skip
        },
        {
            "name": "After hours",
            "description": "Tag requests that arrive while the desk is closed.",
            "events": ["ticket_created"],
            "conditions": {
                "all": [{"field": "business_hours", "operator": "is_closed", "value": hours.pk}]
            },
            "actions": [{"type": "add_tags", "tags": ["after-hours"]}],
        },
    ]


def _supervisor_team(admin: User) -> Team:
    """The team escalations go to (created once, led by the demo's admin)."""
    team = Team.objects.filter(name=SUPERVISOR_TEAM).first()
    if team is not None:
        return team
    domain = admin.email.partition("@")[2]
    leads = User.objects.filter(email__in=[f"{p}@{domain}" for p in SUPERVISOR_PREFIXES])
    return account_actions.save_team(
        actor=admin,
        name=SUPERVISOR_TEAM,
        description="Escalations: abusive or very unhappy customers.",
        member_ids=list(leads.values_list("pk", flat=True)),
    )


@transaction.atomic
def ensure_demo_routing() -> str:
    """Creates the demo's routing set-up where it is missing; a one-line summary."""
    admin = User.objects.filter(
        email=generator.ADMIN_EMAIL, role=Role.ADMIN, is_active=True
    ).first()
    teams = {
        key: Team.objects.filter(name=name).first() for key, name in content.TEAM_NAMES.items()
    }
    if admin is None or not all(teams.values()):
        return "Routing: the demo desk is not loaded; nothing set up."
    ready = {key: team for key, team in teams.items() if team is not None}
    _categories(admin)
    supervisors = _supervisor_team(admin)
    hours = BusinessHours.objects.filter(name=SUPPORT_HOURS).first() or actions.save_business_hours(
        actor=admin,
        name=SUPPORT_HOURS,
        timezone="Europe/London",
        schedule={day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    created = 0
    for rule in _rules(ready, hours, supervisors):
        if not RoutingRule.objects.filter(name=rule["name"]).exists():
            actions.save_rule(actor=admin, **rule)
            created += 1
    for key, strategy in TEAM_STRATEGIES.items():
        # Written directly rather than with save_team_routing, which would also hand
        # out the demo's existing unassigned tickets: the inbox's "Unassigned" view
        # keeps its history; new requests are routed.
        TeamRouting.objects.get_or_create(team=ready[key], defaults={"strategy": strategy})
    TeamRouting.objects.get_or_create(
        team=supervisors, defaults={"strategy": AssignmentStrategy.LEAST_OPEN}
    )
    domain = admin.email.partition("@")[2]
    for prefix, (skills, languages) in AGENT_SKILLS.items():
        agent = User.objects.filter(email=f"{prefix}@{domain}").first()
        if agent is not None and not AgentRoutingProfile.objects.filter(user=agent).exists():
            actions.save_agent_profile(actor=admin, agent=agent, skills=skills, languages=languages)
    total = RoutingRule.objects.count()
    return f"Routing: {total} rules ({created} new), team strategies and skills set."


# The category of each solved demo request, by the team that solved it.
TEAM_CATEGORIES = {"billing": "billing", "technical": "technical", "orders": "shipping"}
# The model version of the demo's historical labels (nothing predicted them).
HISTORY_VERSION = LABELLED_HISTORY  # labels, not predictions (ai.models)
# How many solved requests carry a label: plenty to train on, a few seconds to embed.
HISTORY_LABELS = 450
# How many of the newest unsolved requests are triaged when the demo loads.
TRIAGED_REQUESTS = 200
REVIEWED_REQUESTS = 24
# A shared inbox view built on triage: unsolved requests whose customer sounds unhappy,
# with the AI columns, so the demo shows predictions in a list as well as on a ticket.
TRIAGE_VIEW_NAME = "Unhappy customers"
TRIAGE_VIEW_FILTERS = {"status": ["unsolved"], "predictions": {"sentiment": "negative"}}
TRIAGE_VIEW_COLUMNS = [
    "number", "subject", "requester", "priority", "assignee",
    "intent", "sentiment", "urgency", "language", "updated_at",
]  # fmt: skip


def ensure_demo_triage() -> str:
    """Labelled history, a model trained on it and predictions on open requests (once).

    A desk moving to Concierge brings requests its agents already sorted; the
    demo's are the solved ones, each labelled with the category of the team
    that solved it, confirmed by the agent who did (what a retrain learns
    from). Then the real retrain (promoted only if it validates) and the real
    triage of the newest unsolved requests, so the inbox's AI filters and each
    ticket's triage panel have something to show. The rules are not run on
    them: routing acts on new requests, and the demo's queues keep their history.
    """
    from django.conf import settings
    from django.db.models import Q

    from concierge.ai import actions as ai_actions
    from concierge.ai.models import Prediction, PredictionKind
    from concierge.tickets.models import Status

    if not getattr(settings, "TRIAGE_ENABLED", True):
        return "Triage: off (CONCIERGE_TRIAGE=0); no predictions made."
    if Prediction.objects.filter(model_version=HISTORY_VERSION).exists():
        return "Triage: demo history already labelled."
    category_of_team = {
        team.pk: TEAM_CATEGORIES[key]
        for key, name in content.TEAM_NAMES.items()
        if (team := Team.objects.filter(name=name).first()) is not None
    }
    solved = (
        Ticket.objects.filter(
            status__in=[Status.SOLVED, Status.CLOSED], team_id__in=category_of_team
        )
        .exclude(assignee=None)
        .order_by("-pk")[:HISTORY_LABELS]
    )
    labels = []
    for ticket in solved:
        text = ai_actions.ticket_text(ticket)
        category = category_of_team.get(ticket.team_id or 0)
        if not text or category is None:
            continue
        labels.append(
            Prediction(
                ticket=ticket, kind=PredictionKind.INTENT, label=category, confidence=1.0,
                model_version=HISTORY_VERSION, reasons=["labelled when the request was solved"],
                text=text, corrected_label=category, corrected_by_id=ticket.assignee_id,
                corrected_at=ticket.updated_at,
            )
        )  # fmt: skip
    if not labels:
        return "Triage: the demo desk is not loaded; nothing labelled."
    Prediction.objects.bulk_create(labels)
    outcome = ai_actions.retrain()  # promoted only if it validates, as always
    unsolved = Ticket.objects.filter(
        ~Q(status__in=[Status.SOLVED, Status.CLOSED]), predictions__isnull=True
    ).order_by("-pk")[:TRIAGED_REQUESTS]
    triaged_ids = list(unsolved.values_list("pk", flat=True))
    triaged = 0
    for ticket_id in triaged_ids:
        triaged += bool(ai_actions.triage_ticket(ticket_id=ticket_id))
    reviewed = _review_some(triaged_ids, category_of_team)
    _triage_view()
    model = (
        f"model {outcome.get('version')} trained"
        if outcome.get("promoted")
        else f"no model promoted ({outcome.get('reason', 'see Settings')})"
    )
    return (
        f"Triage: {len(labels)} solved requests labelled, {model}, "
        f"{triaged} open requests classified, {reviewed} of them reviewed by their agent."
    )


def _review_some(ticket_ids: list[int], category_of_team: dict[int, str]) -> int:
    """The agents working some of the newly triaged requests confirm or correct the
    category from the ticket page (the real action), with their team's category as the
    right one, so the triage report has reviews to show. Fewer than the retrain batch
    (TRIAGE_RETRAIN_EVERY_LABELS, 25): the demo starts without a retrain queued."""
    from concierge.ai import actions as ai_actions
    from concierge.ai.models import Prediction, PredictionKind
    from concierge.core import policy

    reviewed = 0
    tickets = (
        Ticket.objects.filter(pk__in=ticket_ids, team_id__in=category_of_team)
        .exclude(assignee=None)
        .select_related("assignee")
        .order_by("-pk")
    )
    for ticket in tickets:
        if reviewed >= REVIEWED_REQUESTS:
            break
        prediction = (
            Prediction.objects.filter(ticket=ticket, kind=PredictionKind.INTENT)
            .order_by("-created_at", "-id")
            .first()
        )
        if prediction is None or not policy.is_full_agent(ticket.assignee):
            continue
        label = category_of_team[ticket.team_id or 0]
        ai_actions.correct_prediction(actor=ticket.assignee, prediction=prediction, label=label)
        reviewed += 1
    return reviewed


def _triage_view() -> None:
    from concierge.tickets.actions import save_saved_view
    from concierge.tickets.models import SavedView

    admin = User.objects.filter(email=generator.ADMIN_EMAIL).first()
    if admin is None or SavedView.objects.filter(name=TRIAGE_VIEW_NAME, owner=None).exists():
        return
    save_saved_view(
        actor=admin,
        name=TRIAGE_VIEW_NAME,
        filters=TRIAGE_VIEW_FILTERS,
        columns=TRIAGE_VIEW_COLUMNS,
        position=10,
    )


def ensure_demo_escalation_example() -> str:
    """An abusive request from the demo customer, through triage and the rules (once)."""
    from concierge.automation.actions import process_ticket_event
    from concierge.tickets.actions import create_ticket

    requester = User.objects.filter(email=generator.CUSTOMER_EMAIL).first()
    customer = getattr(requester, "customer", None) if requester is not None else None
    if customer is None or not Team.objects.filter(name=SUPERVISOR_TEAM).exists():
        return "Escalation example: the demo desk is not loaded; nothing added."
    ticket = Ticket.objects.filter(subject=ESCALATION_EXAMPLE_SUBJECT).first()
    if ticket is None:
        with transaction.atomic():
            ticket = create_ticket(
                actor=None,
                requester=customer,
                subject=ESCALATION_EXAMPLE_SUBJECT,
                body=ESCALATION_EXAMPLE_BODY,
                channel=Channel.PORTAL,
            )
        # The same run the task queue would make (a second one finds it and stops).
        process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
        ticket.refresh_from_db()
    where = ticket.team.name if ticket.team else "no team"
    return f"Escalation example: ticket #{ticket.pk} ({where}) shows a hidden abusive message."
