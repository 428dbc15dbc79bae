"""Presence: the agent's choice, plus what the sockets see (open tab, activity)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from concierge.core import presence
from concierge.core.models import AgentPresence
from tests.factories import make_agent
from tests.realtime.conftest import agent_socket, receive_all, receive_until
from tests.realtime.test_events import GroupListener

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.mark.parametrize(
    ("chosen", "seen_ago", "active_ago", "expected"),
    [
        ("online", 5, 5, "online"),
        ("online", 5, 3600, "away"),  # idle past REALTIME_AWAY_AFTER_SECONDS
        ("online", 3600, 5, "offline"),  # no tab heartbeat within the grace period
        ("online", None, None, "offline"),  # never connected
        ("away", 5, 5, "away"),  # the agent's choice wins over activity
        ("offline", 5, 5, "offline"),
    ],
)
def test_effective_status(
    chosen: str, seen_ago: int | None, active_ago: int | None, expected: str
) -> None:
    def ago(seconds: int | None):  # type: ignore[no-untyped-def]
        return None if seconds is None else NOW - timedelta(seconds=seconds)

    status = presence.effective_status(
        chosen=chosen, last_seen_at=ago(seen_ago), last_active_at=ago(active_ago), now=NOW
    )
    assert status == expected


def test_quiet_agents_go_away_then_offline_and_teammates_are_told(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    agent = make_agent(name="Quiet Quinn")
    listener = GroupListener("presence")
    with django_capture_on_commit_callbacks(execute=True):
        presence.record_heartbeat(user_id=agent.pk, active=True)
    AgentPresence.objects.filter(user=agent).update(
        last_active_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        presence.sweep()
    AgentPresence.objects.filter(user=agent).update(
        last_seen_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        presence.sweep()
        assert presence.sweep() == []  # nothing left to change: safe to run twice
    messages = listener.received()
    listener.close()
    assert [(m["kind"], m["data"]) for m in messages] == [
        ("presence.changed", {"user_id": agent.pk, "name": "Quiet Quinn", "status": status})
        for status in ("online", "away", "offline")
    ]
    assert presence.available_agent_ids() == set()


# Real commits: the presence signals are sent after commit, and here the socket
# itself writes (no test code around it to play the commit).
@pytest.mark.django_db(transaction=True)
def test_opening_the_workspace_announces_the_agent_online_to_teammates() -> None:
    watcher, arriving = make_agent(), make_agent(name="Arriving Ari")
    watcher_socket, arriving_socket = agent_socket(watcher), agent_socket(arriving)

    async def scenario() -> tuple[list[dict], list[dict]]:
        await watcher_socket.connect()
        await receive_until(watcher_socket, "hello")
        await arriving_socket.connect()
        await receive_until(arriving_socket, "hello")
        frames = await receive_all(watcher_socket)
        await arriving_socket.send_json_to({"type": "availability", "status": "away"})
        frames += await receive_all(watcher_socket)
        await arriving_socket.send_json_to({"type": "availability", "status": "asleep"})
        errors = await receive_all(arriving_socket)
        for socket in (watcher_socket, arriving_socket):
            await socket.disconnect()
        return frames, errors

    frames, own_frames = async_to_sync(scenario)()
    changes = [f["data"]["status"] for f in frames if f.get("kind") == "presence.changed"
               and f["data"]["user_id"] == arriving.pk]  # fmt: skip
    assert changes == ["online", "away"]
    assert [f["code"] for f in own_frames if f["type"] == "error"] == ["validation_error"]
    arriving.refresh_from_db()
    assert arriving.availability == "away"


def test_heartbeat_keeps_the_agent_seen_and_sweeps_others(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REALTIME_HEARTBEAT_SECONDS = 0.2
    agent, gone = make_agent(), make_agent()
    presence.record_heartbeat(user_id=gone.pk, active=True)
    AgentPresence.objects.filter(user=gone).update(last_seen_at=timezone.now() - timedelta(hours=1))
    socket = agent_socket(agent)

    async def scenario() -> None:
        await socket.connect()
        await receive_until(socket, "hello")
        await receive_until(socket, "heartbeat")
        await receive_until(socket, "heartbeat")
        await socket.disconnect()

    async_to_sync(scenario)()
    assert AgentPresence.objects.get(user=gone).status == "offline"
    assert AgentPresence.objects.get(user=agent).status == "online"
