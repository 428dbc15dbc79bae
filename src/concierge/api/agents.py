"""Agents: the staff who work the desk (admins manage them)."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from concierge.accounts import actions, services
from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, AgentOut, dump
from concierge.api.tickets import IdempotencyKey

router = Router(tags=["agents"])

StaffRole = Literal["admin", "agent", "light_agent"]


class AgentCreateIn(Schema):
    email: str = Field(..., max_length=254)
    name: str = Field(..., max_length=200)
    role: StaffRole = "agent"


class AgentUpdateIn(Schema):
    """Admins change role, capacity and activity; agents change their own profile."""

    name: str | None = Field(None, max_length=200)
    role: StaffRole | None = None
    capacity: int | None = Field(None, ge=0, le=10_000)
    is_active: bool | None = None
    availability: Literal["online", "away", "offline"] | None = None
    signature: str | None = Field(None, max_length=2000)
    notify_on_assignment: bool | None = None
    notify_on_customer_reply: bool | None = None
    notify_on_mention: bool | None = None


@router.get("", response={200: list[AgentOut], **ERRORS}, summary="List agents")
def list_agents(request: HttpRequest, include_inactive: bool = Query(False)) -> Any:
    return services.list_agents(user=current_user(request), include_inactive=include_inactive)


@router.post("", response={201: AgentOut, **ERRORS}, summary="Create an agent (admins)")
def create_agent(
    request: HttpRequest, payload: AgentCreateIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """Creates a staff account without a password; the agent sets one through a reset."""
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        agent = actions.create_agent(
            actor=user, email=payload.email, name=payload.name, role=payload.role
        )
        return 201, dump(AgentOut, services.get_agent(user=user, agent_id=agent.pk), request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get("/{int:agent_id}", response={200: AgentOut, **ERRORS}, summary="Get an agent")
def get_agent(request: HttpRequest, agent_id: int) -> Any:
    return services.get_agent(user=current_user(request), agent_id=agent_id)


@router.patch("/{int:agent_id}", response={200: AgentOut, **ERRORS}, summary="Update an agent")
def update_agent(request: HttpRequest, agent_id: int, payload: AgentUpdateIn) -> Any:
    user = current_user(request)
    agent = services.get_agent(user=user, agent_id=agent_id)
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    actions.update_agent(actor=user, agent=agent, changes=changes)
    return services.get_agent(user=user, agent_id=agent_id)
