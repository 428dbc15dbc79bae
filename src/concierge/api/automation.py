"""Routing: rules (admins), a dry run of the rules on a ticket, team strategies, skills, queues.

Rule documents (``events``, ``conditions``, ``actions``) follow the schema in
``concierge.automation.rules``; a bad document gets a 422 whose
``field_errors`` name the exact path (``conditions.all.0.value``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from concierge.accounts import services as account_services
from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, dump
from concierge.api.tickets import IdempotencyKey
from concierge.automation import actions, services
from concierge.automation.models import RoutingRule
from concierge.core.errors import NotFound
from concierge.tickets import services as ticket_services

router = Router(tags=["routing"])

RULE_DOC = "See the rule schema in the API description of routing: events, conditions, actions."


class RuleOut(Schema):
    id: int
    name: str
    description: str
    is_active: bool
    position: int
    events: list[str]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class RuleIn(Schema):
    name: str = Field(..., max_length=120)
    description: str = Field("", max_length=500)
    is_active: bool = True
    events: list[str] = Field(..., max_length=10, description='"ticket_created", "customer_reply"')
    conditions: dict[str, Any] = Field(
        default_factory=lambda: {"all": []}, description='{"all": [...]} or {"any": [...]}'
    )
    actions: list[dict[str, Any]] = Field(..., max_length=50)


class RulePatch(Schema):
    name: str | None = Field(None, max_length=120)
    description: str | None = Field(None, max_length=500)
    is_active: bool | None = None
    events: list[str] | None = Field(None, max_length=10)
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = Field(None, max_length=50)


class RuleOrderIn(Schema):
    rule_ids: list[int] = Field(
        ..., max_length=1000, description="Every rule id, in the new order."
    )


class RuleTestIn(Schema):
    ticket_id: int
    event: str = "ticket_created"
    rule_ids: list[int] | None = Field(
        None, max_length=1000, description="Default: every active rule."
    )


class ConditionResultOut(Schema):
    matched: bool
    explanation: str


class RulePreviewOut(Schema):
    rule_id: int
    rule_name: str
    listens: bool
    matched: bool
    would_fire: bool
    conditions: list[ConditionResultOut]
    actions: list[str]


class RuleTestOut(Schema):
    ticket_id: int
    event: str
    previews: list[RulePreviewOut]


class AgentLoadOut(Schema):
    id: int
    name: str
    availability: str
    capacity: int
    open_tickets: int


class QueueOut(Schema):
    team_id: int
    team_name: str
    strategy: str
    require_skill_match: bool
    waiting: int
    oldest_waiting_since: datetime | None
    agents: list[AgentLoadOut]


class TeamRoutingIn(Schema):
    strategy: str = Field(..., description="manual, round_robin, least_open or skills")
    require_skill_match: bool = False


class TeamRoutingOut(Schema):
    team_id: int
    strategy: str
    require_skill_match: bool


class AgentSkillsIn(Schema):
    skills: list[str] = Field(default_factory=list, max_length=50)
    languages: list[str] = Field(default_factory=list, max_length=50)


class AgentSkillsOut(Schema):
    agent_id: int
    skills: list[str]
    languages: list[str]


def _rule(user: Any, rule_id: int) -> RoutingRule:
    return services.get_rule(user=user, rule_id=rule_id)


@router.get(
    "/rules",
    response={200: list[RuleOut], **ERRORS},
    summary="List routing rules in order (admins)",
)
def list_routing_rules(request: HttpRequest) -> Any:
    return services.list_rules(user=current_user(request))


@router.post("/rules", response={201: RuleOut, **ERRORS}, summary="Create a routing rule (admins)")
def create_routing_rule(
    request: HttpRequest, payload: RuleIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        rule = actions.save_rule(actor=user, **payload.model_dump())
        return 201, dump(RuleOut, rule, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get(
    "/rules/{int:rule_id}", response={200: RuleOut, **ERRORS}, summary="Get a routing rule (admins)"
)
def get_routing_rule(request: HttpRequest, rule_id: int) -> Any:
    return _rule(current_user(request), rule_id)


@router.patch(
    "/rules/{int:rule_id}",
    response={200: RuleOut, **ERRORS},
    summary="Change a routing rule (admins)",
)
def update_routing_rule(request: HttpRequest, rule_id: int, payload: RulePatch) -> Any:
    user = current_user(request)
    rule = _rule(user, rule_id)
    changes = payload.model_dump(exclude_unset=True)
    return actions.save_rule(
        actor=user,
        rule=rule,
        name=changes.get("name", rule.name),
        description=changes.get("description", rule.description),
        is_active=changes.get("is_active", rule.is_active),
        events=changes.get("events", rule.events),
        conditions=changes.get("conditions", rule.conditions),
        actions=changes.get("actions", rule.actions),
    )


@router.delete(
    "/rules/{int:rule_id}", response={204: None, **ERRORS}, summary="Delete a routing rule (admins)"
)
def delete_routing_rule(request: HttpRequest, rule_id: int) -> HttpResponse:
    user = current_user(request)
    actions.delete_rule(actor=user, rule=_rule(user, rule_id))
    return HttpResponse(status=204)


@router.put(
    "/rules/order",
    response={200: list[RuleOut], **ERRORS},
    summary="Reorder the routing rules (admins)",
)
def reorder_routing_rules(request: HttpRequest, payload: RuleOrderIn) -> Any:
    return actions.reorder_rules(actor=current_user(request), rule_ids=payload.rule_ids)


@router.post(
    "/rules/test",
    response={200: RuleTestOut, **ERRORS},
    summary="What the rules would do to a ticket now (admins; changes nothing)",
)
def test_routing_rules(
    request: HttpRequest, payload: RuleTestIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """A dry run. POST because it takes a body; with an Idempotency-Key a retry gets the
    first answer, like every POST of this API."""
    user = current_user(request)

    def run() -> tuple[int, dict[str, Any]]:
        ticket = ticket_services.get_ticket(user=user, ticket_id=payload.ticket_id)
        chosen = None
        if payload.rule_ids is not None:
            chosen = [_rule(user, rule_id) for rule_id in payload.rule_ids]
        previews = services.preview_rules(
            user=user, ticket=ticket, event=payload.event, rules=chosen
        )
        return 200, {
            "ticket_id": ticket.pk,
            "event": payload.event,
            "previews": [
                {
                    "rule_id": preview.rule.pk,
                    "rule_name": preview.rule.name,
                    "listens": preview.listens,
                    "matched": preview.matched,
                    "would_fire": preview.would_fire,
                    "conditions": [
                        {"matched": result.matched, "explanation": result.explanation}
                        for result in preview.conditions
                    ],
                    "actions": preview.actions,
                }
                for preview in previews
            ],
        }

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=run)


@router.get(
    "/queues",
    response={200: list[QueueOut], **ERRORS},
    summary="Team queues: waiting tickets and agent loads (staff)",
)
def list_team_queues(request: HttpRequest) -> Any:
    return [
        {
            "team_id": queue.team.pk,
            "team_name": queue.team.name,
            "strategy": queue.strategy,
            "require_skill_match": queue.require_skill_match,
            "waiting": queue.waiting,
            "oldest_waiting_since": queue.oldest_waiting_since,
            "agents": [
                {
                    "id": agent.pk,
                    "name": agent.name,
                    "availability": agent.availability,
                    "capacity": agent.capacity,
                    "open_tickets": load,
                }
                for agent, load in queue.agents
            ],
        }
        for queue in services.team_queues(user=current_user(request))
    ]


@router.put(
    "/teams/{int:team_id}",
    response={200: TeamRoutingOut, **ERRORS},
    summary="Set a team's assignment strategy (admins)",
)
def set_team_routing(request: HttpRequest, team_id: int, payload: TeamRoutingIn) -> Any:
    user = current_user(request)
    team = account_services.list_teams(user=user).filter(pk=team_id).first()
    if team is None:
        raise NotFound("No such team.")
    routing = actions.save_team_routing(
        actor=user,
        team=team,
        strategy=payload.strategy,
        require_skill_match=payload.require_skill_match,
    )
    return {
        "team_id": team.pk,
        "strategy": routing.strategy,
        "require_skill_match": routing.require_skill_match,
    }


@router.put(
    "/agents/{int:agent_id}",
    response={200: AgentSkillsOut, **ERRORS},
    summary="Set an agent's skills and languages (admins)",
)
def set_agent_skills(request: HttpRequest, agent_id: int, payload: AgentSkillsIn) -> Any:
    user = current_user(request)
    agent = account_services.get_agent(user=user, agent_id=agent_id)
    profile = actions.save_agent_profile(
        actor=user, agent=agent, skills=payload.skills, languages=payload.languages
    )
    return {"agent_id": agent.pk, "skills": profile.skills, "languages": profile.languages}
