"""Reads of agents and teams."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from concierge.accounts.models import STAFF_ROLES, ApiToken, Team, User
from concierge.core import policy
from concierge.core.errors import NotFound


def list_agents(*, user: Any, include_inactive: bool = False) -> QuerySet[User]:
    policy.require(policy.can_view_agents(user), "Only agents see the team list.")
    queryset = User.objects.filter(role__in=STAFF_ROLES).prefetch_related("teams")
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("name")


def get_agent(*, user: Any, agent_id: int) -> User:
    agent = list_agents(user=user, include_inactive=True).filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    return agent


def list_teams(*, user: Any) -> QuerySet[Team]:
    policy.require(policy.can_view_agents(user), "Only agents see teams.")
    return Team.objects.prefetch_related("members").order_by("name")


def list_own_tokens(*, user: Any) -> QuerySet[ApiToken]:
    policy.require(policy.can_manage_own_tokens(user))
    return ApiToken.objects.filter(user=user).order_by("-created_at")
