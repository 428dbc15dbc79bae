"""Staff presence: online, away or offline, by the agent's choice and by what the sockets see.

The agent chooses an availability (``User.availability``: online, away,
offline). The workspace's WebSocket adds two observations, kept in
``core.AgentPresence``: a heartbeat from every open tab (``last_seen_at``)
and the agent's last key press or click (``last_active_at``). The effective
presence is then:

* offline — the agent chose offline, or no tab has sent a heartbeat within
  the grace period (closed laptop, lost network, crashed node);
* away — the agent chose away, or no activity for ``REALTIME_AWAY_AFTER_SECONDS``;
* online — otherwise.

Every change is announced on the ``presence`` stream as an ephemeral
``presence.changed`` signal (``{"user_id", "name", "status"}``); a client
that (re)connects gets the full picture from ``team_presence`` instead of a
replay. Routing asks ``available_agent_ids`` for who can take work now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from concierge.core.events import on_commit, signal
from concierge.core.models import AgentPresence

ONLINE, AWAY, OFFLINE = "online", "away", "offline"
STAFF_ROLES = ("admin", "agent", "light_agent")
PRESENCE_STREAM = "presence"


@dataclass(frozen=True)
class PresenceChange:
    user_id: int
    name: str
    status: str

    def as_data(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "name": self.name, "status": self.status}


def offline_after() -> timedelta:
    """How long without a heartbeat before an agent counts as gone.

    At least two heartbeats, so one late heartbeat does not flicker an
    agent offline.
    """
    return timedelta(
        seconds=max(
            settings.REALTIME_OFFLINE_GRACE_SECONDS, 2 * settings.REALTIME_HEARTBEAT_SECONDS + 5
        )
    )


def effective_status(
    *,
    chosen: str,
    last_seen_at: datetime | None,
    last_active_at: datetime | None,
    now: datetime,
) -> str:
    """The presence teammates see, from the agent's choice and the sockets' observations."""
    if chosen == OFFLINE:
        return OFFLINE
    if last_seen_at is None or now - last_seen_at > offline_after():
        return OFFLINE
    if chosen == AWAY:
        return AWAY
    away_after = timedelta(seconds=settings.REALTIME_AWAY_AFTER_SECONDS)
    if last_active_at is None or now - last_active_at > away_after:
        return AWAY
    return ONLINE


def _announce(change: PresenceChange) -> None:
    on_commit(
        lambda: signal(stream=PRESENCE_STREAM, kind="presence.changed", data=change.as_data())
    )


def _refresh(presence: AgentPresence, user: Any, now: datetime) -> PresenceChange | None:
    status = effective_status(
        chosen=user.availability,
        last_seen_at=presence.last_seen_at,
        last_active_at=presence.last_active_at,
        now=now,
    )
    if status == presence.status:
        return None
    presence.status = status
    presence.save(update_fields=["status", "updated_at"])
    change = PresenceChange(user_id=user.pk, name=user.name or user.email, status=status)
    _announce(change)
    return change


def record_heartbeat(*, user_id: int, active: bool = False) -> PresenceChange | None:
    """An open workspace tab of ``user_id`` is alive (and, with ``active``, being used).

    Called when a socket connects, on every server heartbeat, and when the
    client reports activity. Returns the change it announced, if any.
    """
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or getattr(user, "role", None) not in STAFF_ROLES:
        return None
    now = timezone.now()
    presence, _ = AgentPresence.objects.get_or_create(user_id=user_id)
    presence.last_seen_at = now
    fields = ["last_seen_at"]
    if active:
        presence.last_active_at = now
        fields.append("last_active_at")
    presence.save(update_fields=[*fields, "updated_at"])
    return _refresh(presence, user, now)


def refresh(*, user_id: int) -> PresenceChange | None:
    """Recomputes one agent's presence (after they changed their availability, say)."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return None
    presence, _ = AgentPresence.objects.get_or_create(user_id=user_id)
    return _refresh(presence, user, timezone.now())


def sweep(*, user_ids: list[int] | None = None) -> list[PresenceChange]:
    """Moves agents whose tabs went quiet to away or offline; safe to run anywhere, any time.

    Only agents currently shown online or away can change by the passage of
    time, so the query touches those few rows.
    """
    now = timezone.now()
    presences = AgentPresence.objects.filter(status__in=[ONLINE, AWAY]).select_related("user")
    if user_ids is not None:
        presences = presences.filter(user_id__in=user_ids)
    changes = []
    for presence in presences:
        change = _refresh(presence, presence.user, now)
        if change is not None:
            changes.append(change)
    return changes


def team_presence() -> list[dict[str, Any]]:
    """Every active staff member with their effective presence, for a client's first picture."""
    now = timezone.now()
    seen = {p.user_id: p for p in AgentPresence.objects.all()}
    people = []
    for user in get_user_model().objects.filter(is_active=True, role__in=STAFF_ROLES):
        presence = seen.get(user.pk)
        status = effective_status(
            chosen=user.availability,
            last_seen_at=presence.last_seen_at if presence else None,
            last_active_at=presence.last_active_at if presence else None,
            now=now,
        )
        people.append({"user_id": user.pk, "name": user.name or user.email, "status": status})
    return people


def statuses(user_ids: list[int]) -> dict[int, str]:
    """Effective presence of each given user (offline for unknown ones)."""
    people = {row["user_id"]: row["status"] for row in team_presence()}
    return {user_id: people.get(user_id, OFFLINE) for user_id in user_ids}


def available_agent_ids() -> set[int]:
    """Staff who are online right now: the ones routing may hand live work to."""
    return {row["user_id"] for row in team_presence() if row["status"] == ONLINE}
