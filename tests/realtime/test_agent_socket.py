"""The agent socket: who may connect, what each socket receives, limits and errors.

Every test captures the frames each socket gets and asserts who got what:
a wrong recipient is a security bug (see STYLE.md, Zulip's habit).
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from concierge.core.models import RealtimeEvent
from concierge.tickets import actions
from concierge.tickets.models import EntryKind
from tests.factories import TicketFactory, make_agent, make_customer_user, make_light_agent
from tests.realtime.conftest import agent_socket, events_of, receive_all, receive_until

pytestmark = pytest.mark.django_db


def test_anonymous_socket_is_refused() -> None:
    socket = agent_socket(None)

    async def scenario() -> tuple[bool, object]:
        return await socket.connect()

    connected, _code = async_to_sync(scenario)()
    assert connected is False


def test_customer_cannot_open_the_agent_socket() -> None:
    customer = make_customer_user()
    socket = agent_socket(customer)

    async def scenario() -> bool:
        connected, _ = await socket.connect()
        return connected

    assert async_to_sync(scenario)() is False


def test_agent_socket_from_another_sites_page_is_refused() -> None:
    agent = make_agent()

    foreign_page = agent_socket(agent, origin="https://evil.example")
    no_origin = agent_socket(agent, origin=None)

    async def scenario() -> tuple[bool, bool]:
        foreign, _ = await foreign_page.connect()
        without_origin, _ = await no_origin.connect()
        return foreign, without_origin

    assert async_to_sync(scenario)() == (False, False)


def test_agent_connects_and_gets_hello_with_team_presence() -> None:
    agent = make_agent(name="Alan Agent")
    colleague = make_agent(name="Colette Colleague")
    socket = agent_socket(agent)

    async def scenario() -> dict:
        connected, _ = await socket.connect()
        assert connected
        hello = await socket.receive_json_from()
        await socket.disconnect()
        return hello

    hello = async_to_sync(scenario)()
    assert hello["type"] == "hello"
    assert hello["user_id"] == agent.pk
    people = {row["user_id"]: row["status"] for row in hello["presence"]}
    assert people[agent.pk] == "online"  # this socket is open and active
    assert people[colleague.pk] == "offline"  # no tab open


def test_internal_note_reaches_staff_ticket_stream_only(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    agent, viewer = make_agent(), make_light_agent()
    ticket = TicketFactory()

    def write_note() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            actions.add_entry(
                actor=agent, ticket=ticket, body="Refund approved", kind=EntryKind.INTERNAL_NOTE
            )

    socket = agent_socket(viewer)

    async def scenario() -> list[dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_json_to({"type": "subscribe", "ticket_id": ticket.pk})
        await receive_until(socket, "subscribed")
        await database_sync_to_async(write_note)()
        frames = await receive_all(socket)
        await socket.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert events_of(frames) == [
        (f"ticket.{ticket.pk}", "entry.created"),
        ("staff", "ticket.updated"),
        (f"ticket.{ticket.pk}", "ticket.updated"),
    ]
    entry_event = next(f for f in frames if f.get("kind") == "entry.created")
    assert entry_event["data"]["kind"] == "note"
    assert "Refund approved" in entry_event["data"]["body_html"]
    stored_streams = set(RealtimeEvent.objects.values_list("stream", flat=True))
    assert f"ticket.{ticket.pk}.public" not in stored_streams


def test_unsubscribed_agent_gets_inbox_events_but_not_the_ticket_timeline(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    agent, other = make_agent(), make_agent()
    ticket = TicketFactory()

    def reply() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            actions.add_entry(actor=agent, ticket=ticket, body="On it")

    socket = agent_socket(other)

    async def scenario() -> list[dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await database_sync_to_async(reply)()
        frames = await receive_all(socket)
        await socket.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    streams = {stream for stream, _ in events_of(frames)}
    assert streams == {"staff"}
    updated = [f for f in frames if f.get("kind") == "ticket.updated"]
    # The reply opened the ticket and assigned it to its author, then moved the row.
    assert [sorted(f["data"]["fields"]) for f in updated] == [
        ["assignee", "status"],
        ["entries"],
    ]
    assert updated[-1]["data"]["assignee_id"] == agent.pk
    assert updated[-1]["data"]["status"] == "open"


def test_new_ticket_reaches_every_agent_socket(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    first, second = make_agent(), make_light_agent()
    customer_user = make_customer_user()

    def open_ticket() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            ticket = actions.create_ticket(
                actor=customer_user,
                requester=customer_user.customer,
                subject="Where is my parcel?",
                body="It has been a week.",
            )
        return ticket.pk

    sockets = [agent_socket(first), agent_socket(second)]

    async def scenario() -> tuple[int, list[dict], list[dict]]:
        for socket in sockets:
            await socket.connect()
            await receive_until(socket, "hello")
        ticket_id = await database_sync_to_async(open_ticket)()
        received = [await receive_all(socket) for socket in sockets]
        for socket in sockets:
            await socket.disconnect()
        return ticket_id, received[0], received[1]

    ticket_id, first_frames, second_frames = async_to_sync(scenario)()
    for frames in (first_frames, second_frames):
        assert events_of(frames) == [("staff", "ticket.created")]
        assert frames[0]["data"]["ticket_id"] == ticket_id
        assert frames[0]["data"]["subject"] == "Where is my parcel?"


def test_subscribing_to_a_missing_ticket_is_an_error_not_a_stream() -> None:
    agent = make_agent()
    socket = agent_socket(agent)

    async def scenario() -> list[dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_json_to({"type": "subscribe", "ticket_id": 999_999})
        await socket.send_json_to({"type": "subscribe", "ticket_id": "1; drop"})
        frames = await receive_all(socket)
        await socket.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert [(f["type"], f["code"]) for f in frames] == [
        ("error", "not_found"),
        ("error", "invalid_message"),
    ]


def test_oversize_message_gets_a_clear_error_and_the_socket_stays_open(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REALTIME_MAX_MESSAGE_BYTES = 1024
    agent = make_agent()
    socket = agent_socket(agent)
    oversize = '{"type": "ping", "padding": "' + "x" * 2000 + '"}'

    async def scenario() -> list[dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_to(text_data=oversize)
        await socket.send_to(text_data="not json")
        await socket.send_to(bytes_data=b"\x00\x01")
        await socket.send_json_to({"type": "no_such_thing"})
        await socket.send_json_to({"type": "ping"})
        frames = await receive_all(socket)
        await socket.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert [f.get("code", f["type"]) for f in frames] == [
        "message_too_large",
        "invalid_json",
        "binary_not_accepted",
        "unknown_type",
        "pong",
    ]
    assert frames[0]["message"] == (
        f"The message is {len(oversize)} bytes; the limit is 1024 bytes."
    )


def test_rate_limit_answers_errors_then_closes_a_flooding_socket(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REALTIME_RATE_LIMIT_MESSAGES = 5
    settings.REALTIME_RATE_LIMIT_WINDOW_SECONDS = 60
    agent = make_agent()
    socket = agent_socket(agent)

    async def scenario() -> tuple[list[dict], dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        for _ in range(7):
            await socket.send_json_to({"type": "ping"})
        frames = await receive_all(socket)
        for _ in range(10):
            await socket.send_json_to({"type": "ping"})
        closing = await socket.receive_output(timeout=2)
        while closing["type"] != "websocket.close":
            closing = await socket.receive_output(timeout=2)
        return frames, closing

    frames, closing = async_to_sync(scenario)()
    assert [f.get("code", f["type"]) for f in frames] == ["pong"] * 5 + ["rate_limited"] * 2
    assert frames[-1]["message"] == "Too many messages: at most 5 per 60 seconds."
    assert closing["code"] == 4429


def test_deactivated_agent_is_disconnected_at_the_next_heartbeat(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REALTIME_HEARTBEAT_SECONDS = 0.2
    agent = make_agent()

    def deactivate() -> None:
        agent.is_active = False
        agent.save(update_fields=["is_active"])

    socket = agent_socket(agent)

    async def scenario() -> tuple[list[dict], dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await receive_until(socket, "heartbeat")
        await database_sync_to_async(deactivate)()
        frames = []
        output = await socket.receive_output(timeout=2)
        while output["type"] != "websocket.close":
            frames.append(output)
            output = await socket.receive_output(timeout=2)
        return frames, output

    frames, closing = async_to_sync(scenario)()
    assert any('"signed_out"' in frame.get("text", "") for frame in frames)
    assert closing["code"] == 4401


def test_events_sent_from_a_background_thread_reach_sockets_on_the_in_memory_layer() -> None:
    """The embedded profile's task worker is a plain thread of the server process."""
    import asyncio

    from concierge.core import events

    agent = make_agent()
    ticket = TicketFactory()
    socket = agent_socket(agent)

    def from_worker_thread() -> None:
        events.signal(
            stream=f"ticket.{ticket.pk}",
            kind="chat.read",
            data={"ticket_id": ticket.pk, "reader": "visitor", "entry_id": 1},
        )

    async def scenario() -> list[dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_json_to({"type": "subscribe", "ticket_id": ticket.pk})
        await receive_until(socket, "subscribed")
        await asyncio.to_thread(from_worker_thread)
        frames = await receive_all(socket)
        await socket.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert events_of(frames) == [(f"ticket.{ticket.pk}", "chat.read")]
