"""Teams of agents (admins manage them)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from concierge.accounts import actions, services
from concierge.accounts.models import Team
from concierge.api.auth import current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, TeamOut, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core.errors import NotFound

router = Router(tags=["teams"])


class TeamCreateIn(Schema):
    name: str = Field(..., max_length=100)
    description: str = Field("", max_length=2000)
    member_ids: list[int] = Field(default_factory=list, max_length=500)


class TeamUpdateIn(Schema):
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)
    member_ids: list[int] | None = Field(None, max_length=500, description="Replaces all members.")


def _team(user: Any, team_id: int) -> Team:
    team = services.list_teams(user=user).filter(pk=team_id).first()
    if team is None:
        raise NotFound("No such team.")
    return team


@router.get("", response={200: list[TeamOut], **ERRORS}, summary="List teams")
def list_teams(request: HttpRequest) -> Any:
    return services.list_teams(user=current_user(request))


@router.post("", response={201: TeamOut, **ERRORS}, summary="Create a team (admins)")
def create_team(
    request: HttpRequest, payload: TeamCreateIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    user = current_user(request)

    def create() -> tuple[int, dict[str, Any]]:
        team = actions.save_team(
            actor=user,
            name=payload.name,
            description=payload.description,
            member_ids=payload.member_ids,
        )
        return 201, dump(TeamOut, _team(user, team.pk), request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.patch("/{int:team_id}", response={200: TeamOut, **ERRORS}, summary="Update a team (admins)")
def update_team(request: HttpRequest, team_id: int, payload: TeamUpdateIn) -> Any:
    user = current_user(request)
    team = _team(user, team_id)
    actions.save_team(
        actor=user,
        team=team,
        name=payload.name if payload.name is not None else team.name,
        description=payload.description if payload.description is not None else team.description,
        member_ids=payload.member_ids,
    )
    return _team(user, team_id)
