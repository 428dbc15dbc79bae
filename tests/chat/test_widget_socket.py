"""The visitor socket: origin check, own chats only, never a note, limits, replay.

Every socket's frames are captured and checked whole: a visitor must never
receive another visitor's messages or any internal note.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from concierge.asgi import application
from concierge.chat import actions
from concierge.chat.models import ChatChannel
from concierge.core.events import latest_event_id
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import EntryKind, Ticket
from tests.chat.conftest import HOST_ORIGIN, new_visitor
from tests.factories import make_agent
from tests.realtime.conftest import receive_all, receive_until

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer's database calls must not close the test's connection (see tests/realtime)."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


NOTE_TEXT = "Internal: this customer owes us money"


def widget_socket(
    channel: ChatChannel, *, origin: str | None = HOST_ORIGIN
) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    return WebsocketCommunicator(
        application, f"/ws/widget/?key={channel.public_key}", headers=headers
    )


async def _open(
    channel: ChatChannel, token: str, last_event_id: int = 0
) -> tuple[WebsocketCommunicator, dict]:
    socket = widget_socket(channel)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "resume", "token": token, "last_event_id": last_event_id})
    ready, _ = await receive_until(socket, "ready")
    return socket, ready


def _all_text(frames: list[dict]) -> str:
    return json.dumps(frames)


def test_socket_from_an_origin_not_allowed_is_refused(chat_channel: ChatChannel) -> None:
    _, token = new_visitor(chat_channel)

    async def scenario() -> tuple[dict, Any]:
        socket = widget_socket(chat_channel, origin="https://evil.example.net")
        await socket.connect()
        error = await socket.receive_json_from()
        closed = await socket.receive_output()
        await socket.send_json_to({"type": "resume", "token": token})
        return error, closed

    error, closed = async_to_sync(scenario)()
    assert error["code"] == "origin_refused"
    assert "https://evil.example.net" in error["message"]
    assert closed == {"type": "websocket.close", "code": 4403}


def test_socket_without_origin_is_refused(chat_channel: ChatChannel) -> None:
    async def scenario() -> dict:
        socket = widget_socket(chat_channel, origin=None)
        await socket.connect()
        return await socket.receive_json_from()

    assert async_to_sync(scenario)()["code"] == "origin_refused"


def test_bad_token_is_refused(chat_channel: ChatChannel) -> None:
    async def scenario() -> tuple[dict, Any]:
        socket = widget_socket(chat_channel)
        await socket.connect()
        await socket.send_json_to({"type": "resume", "token": "cv_forged"})
        return await socket.receive_json_from(), await socket.receive_output()

    error, closed = async_to_sync(scenario)()
    assert error["code"] == "invalid_token"
    assert closed["code"] == 4401


def test_visitor_gets_agent_replies_but_no_note_and_nothing_of_other_visitors(
    chat_channel: ChatChannel, django_capture_on_commit_callbacks: Any
) -> None:
    alice, alice_token = new_visitor(chat_channel, name="Alice")
    bob, bob_token = new_visitor(chat_channel, name="Bob")
    agent = make_agent(name="Agnes Agent")
    with django_capture_on_commit_callbacks(execute=True):
        alice_chat, _ = actions.send_visitor_message(visitor=alice, body="Alice asks")
        bob_chat, _ = actions.send_visitor_message(visitor=bob, body="Bob asks")

    def agent_writes() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            ticket_actions.add_entry(
                actor=agent, ticket=alice_chat.ticket, body=NOTE_TEXT, kind=EntryKind.INTERNAL_NOTE
            )
            ticket_actions.add_entry(actor=agent, ticket=alice_chat.ticket, body="Hi Alice!")
            ticket_actions.add_entry(actor=agent, ticket=bob_chat.ticket, body="Hi Bob!")

    async def scenario() -> tuple[list[dict], list[dict]]:
        alice_socket, _ = await _open(chat_channel, alice_token)
        bob_socket, _ = await _open(chat_channel, bob_token)
        await database_sync_to_async(agent_writes)()
        await bob_socket.send_json_to(
            {
                "type": "message",
                "ticket_id": bob_chat.ticket_id,
                "body": "Bob's secret",
                "client_id": "b1",
            }
        )
        alice_frames = await receive_all(alice_socket)
        bob_frames = await receive_all(bob_socket)
        await alice_socket.disconnect()
        await bob_socket.disconnect()
        return alice_frames, bob_frames

    alice_frames, bob_frames = async_to_sync(scenario)()

    alice_entries = [f["data"] for f in alice_frames if f.get("kind") == "entry.created"]
    assert [e["body_html"] for e in alice_entries] == ["<p>Hi Alice!</p>\n"]
    assert alice_entries[0]["author_name"] == "Agnes Agent"
    assert alice_entries[0]["from"] == "agent"
    for text in (NOTE_TEXT, "Bob", "Hi Bob"):
        assert text not in _all_text(alice_frames)
    assert {f["stream"] for f in alice_frames if f.get("type") == "event"} == {
        f"ticket.{alice_chat.ticket_id}.public"
    }
    assert NOTE_TEXT not in _all_text(bob_frames)
    assert "Alice" not in _all_text(bob_frames)
    ack = next(f for f in bob_frames if f.get("type") == "ack")
    assert ack["client_id"] == "b1" and ack["ticket_id"] == bob_chat.ticket_id


def test_message_over_the_frame_limit_gets_a_clear_error(
    chat_channel: ChatChannel, settings: Any
) -> None:
    settings.CHAT_MAX_FRAME_BYTES = 1000
    _, token = new_visitor(chat_channel)

    async def scenario() -> dict:
        socket, _ = await _open(chat_channel, token)
        await socket.send_json_to({"type": "message", "body": "x" * 2000, "client_id": "c1"})
        return await socket.receive_json_from()

    error = async_to_sync(scenario)()
    assert error["code"] == "message_too_large"
    assert "the limit is 1000 bytes" in error["message"]
    assert not Ticket.objects.exists()


def test_message_over_the_character_limit_names_the_limit(
    chat_channel: ChatChannel, settings: Any
) -> None:
    settings.CHAT_MESSAGE_MAX_CHARS = 50
    _, token = new_visitor(chat_channel)

    async def scenario() -> dict:
        socket, _ = await _open(chat_channel, token)
        await socket.send_json_to({"type": "message", "body": "y" * 60, "client_id": "c2"})
        return await socket.receive_json_from()

    error = async_to_sync(scenario)()
    assert error["code"] == "limit_exceeded" and error["client_id"] == "c2"
    assert "the chat limit is 50" in error["message"]


def test_visitor_rate_limit_over_the_socket(chat_channel: ChatChannel, settings: Any) -> None:
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 3600  # no window boundary inside the test
    _, token = new_visitor(chat_channel)

    async def scenario() -> list[dict]:
        socket, _ = await _open(chat_channel, token)
        ticket_id = None
        frames = []
        for n in range(3):
            await socket.send_json_to(
                {"type": "message", "body": f"m{n}", "ticket_id": ticket_id, "client_id": str(n)}
            )
            frame, _ = await receive_until(socket, "ack" if n < 2 else "error")
            ticket_id = frame.get("ticket_id", ticket_id)
            frames.append(frame)
        return frames

    frames = async_to_sync(scenario)()
    assert frames[2]["code"] == "rate_limited" and frames[2]["client_id"] == "2"
    assert Ticket.objects.get().entries.count() == 2


def test_reconnecting_visitor_receives_what_it_missed(
    chat_channel: ChatChannel, django_capture_on_commit_callbacks: Any
) -> None:
    visitor, token = new_visitor(chat_channel)
    agent = make_agent()
    with django_capture_on_commit_callbacks(execute=True):
        conversation, _ = actions.send_visitor_message(visitor=visitor, body="Hello")
    seen_up_to = latest_event_id()
    with django_capture_on_commit_callbacks(execute=True):
        ticket_actions.add_entry(actor=agent, ticket=conversation.ticket, body="Sent while away")
        ticket_actions.add_entry(
            actor=agent, ticket=conversation.ticket, body=NOTE_TEXT, kind=EntryKind.INTERNAL_NOTE
        )

    async def scenario() -> list[dict]:
        socket = widget_socket(chat_channel)
        await socket.connect()
        await socket.send_json_to({"type": "resume", "token": token, "last_event_id": seen_up_to})
        _, before = await receive_until(socket, "ready")
        return before

    frames = async_to_sync(scenario)()
    bodies = [f["data"]["body_html"] for f in frames if f.get("kind") == "entry.created"]
    # Replay re-sends the last seconds too (late commits); the widget drops entries it shows.
    assert bodies[-1] == "<p>Sent while away</p>\n"
    assert NOTE_TEXT not in _all_text(frames)


def test_visitor_typing_reaches_agents_on_the_ticket_stream(chat_channel: ChatChannel) -> None:
    visitor, token = new_visitor(chat_channel, name="Tina")
    conversation, _ = actions.send_visitor_message(visitor=visitor, body="Hello")

    async def scenario() -> dict:
        from channels.layers import get_channel_layer

        from concierge.core.events import group_name

        layer = get_channel_layer()
        listener = await layer.new_channel()
        await layer.group_add(group_name(f"ticket.{conversation.ticket_id}"), listener)
        socket, _ = await _open(chat_channel, token)
        await socket.send_json_to(
            {"type": "typing", "ticket_id": conversation.ticket_id, "is_typing": True}
        )
        return await layer.receive(listener)

    message = async_to_sync(scenario)()
    assert message["kind"] == "typing"
    assert message["data"] == {
        "ticket_id": conversation.ticket_id,
        "who": "customer",
        "name": "Tina",
        "is_typing": True,
    }
