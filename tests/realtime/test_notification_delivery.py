"""A notification travels on the agent socket to the agents it names, and to nobody else.

The events go on the inbox-wide ``staff`` stream; the socket filters them per
recipient (``policy.can_receive_ticket_event``), live and on replay, so
another agent's browser never receives the text at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from concierge.accounts.models import Team
from concierge.automation import actions
from concierge.automation.models import AgentNotification
from tests.automation.conftest import new_ticket, rule
from tests.factories import TeamFactory, make_admin, make_agent
from tests.realtime.conftest import agent_socket, receive_all, receive_until

pytestmark = pytest.mark.django_db


def _notifying_rule_for_a_team_of(member: Any) -> None:
    team: Team = TeamFactory(name="Billing")  # type: ignore[assignment]
    team.members.add(member)
    rule(
        make_admin(), "Tell billing", {"all": []},
        [{"type": "set_team", "team": team.pk},
         {"type": "notify", "recipients": "team", "via": "in_app", "message": "Secret refund 42"}],
    )  # fmt: skip


def _kinds(frames: list[dict]) -> list[str]:
    return [frame["kind"] for frame in frames if frame.get("type") == "event"]


def test_a_notification_reaches_only_the_named_agents_socket_live_and_on_replay(
    django_capture_on_commit_callbacks: Any,
) -> None:
    member, outsider = make_agent(email="m@concierge.test"), make_agent(email="o@concierge.test")
    _notifying_rule_for_a_team_of(member)

    def fire() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            ticket = new_ticket()
            actions.process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    member_socket, outsider_socket = agent_socket(member), agent_socket(outsider)

    async def scenario() -> tuple[list[dict], list[dict], list[dict]]:
        for socket in (member_socket, outsider_socket):
            await socket.connect()
            await receive_until(socket, "hello")
        await database_sync_to_async(fire)()
        member_frames = await receive_all(member_socket)
        outsider_frames = await receive_all(outsider_socket)
        # A reconnecting tab asks for everything it missed: still not someone else's.
        await outsider_socket.send_json_to({"type": "resume", "last_event_id": 0})
        _resumed, replayed = await receive_until(outsider_socket, "resumed")
        for socket in (member_socket, outsider_socket):
            await socket.disconnect()
        return member_frames, outsider_frames, replayed

    member_frames, outsider_frames, replayed = async_to_sync(scenario)()

    assert "automation.notification" in _kinds(member_frames)
    notice = next(f for f in member_frames if f.get("kind") == "automation.notification")
    assert notice["data"]["message"] == "Secret refund 42"
    assert notice["data"]["user_ids"] == [member.pk]
    # The outsider still hears about the new ticket (inbox refresh), not the notification.
    assert "ticket.created" in _kinds(outsider_frames)
    assert "automation.notification" not in _kinds(outsider_frames + replayed)
    assert "Secret refund 42" not in repr(outsider_frames + replayed)


def test_reading_notifications_updates_only_the_readers_other_tabs(
    django_capture_on_commit_callbacks: Any,
) -> None:
    member, outsider = make_agent(email="m@concierge.test"), make_agent(email="o@concierge.test")
    _notifying_rule_for_a_team_of(member)
    tickets = [new_ticket(), new_ticket()]
    for ticket in tickets:
        actions.process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    def read_first() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return actions.mark_notifications_read(actor=member, ticket_id=tickets[0].pk)

    member_socket, outsider_socket = agent_socket(member), agent_socket(outsider)

    async def scenario() -> tuple[int, list[dict], list[dict]]:
        for socket in (member_socket, outsider_socket):
            await socket.connect()
            await receive_until(socket, "hello")
        changed = await database_sync_to_async(read_first)()
        member_frames = await receive_all(member_socket)
        outsider_frames = await receive_all(outsider_socket)
        for socket in (member_socket, outsider_socket):
            await socket.disconnect()
        return changed, member_frames, outsider_frames

    changed, member_frames, outsider_frames = async_to_sync(scenario)()

    assert changed == 1
    read = [f for f in member_frames if f.get("kind") == "automation.notifications_read"]
    assert [f["data"] for f in read] == [
        {"user_ids": [member.pk], "ticket_id": tickets[0].pk, "unread": 1}
    ]
    assert _kinds(outsider_frames) == []
    assert AgentNotification.objects.filter(user=member, read_at__isnull=True).count() == 1
