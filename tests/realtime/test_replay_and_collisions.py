"""Reconnect without loss, viewers and typing between agents, and the reply collision check."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from concierge.core.errors import NewerEntriesArrived
from concierge.core.events import latest_event_id
from concierge.core.models import RealtimeEvent
from concierge.tickets import actions
from concierge.tickets.models import Entry, EntryKind
from tests.factories import TicketFactory, make_agent, make_light_agent
from tests.realtime.conftest import agent_socket, receive_all, receive_until
from tests.realtime.test_events import GroupListener

pytestmark = pytest.mark.django_db


def test_reconnecting_socket_replays_every_missed_event_once(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    agent, colleague = make_agent(), make_agent()
    ticket = TicketFactory()
    first_socket, second_socket = agent_socket(agent), agent_socket(agent)

    def write(body: str, kind: str = EntryKind.PUBLIC_REPLY) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            actions.add_entry(actor=colleague, ticket=ticket, body=body, kind=kind)

    async def scenario() -> tuple[list[dict], list[dict], int]:
        await first_socket.connect()
        await receive_until(first_socket, "hello")
        await first_socket.send_json_to({"type": "subscribe", "ticket_id": ticket.pk})
        await first_socket.send_json_to({"type": "resume", "last_event_id": 0})
        await receive_until(first_socket, "resumed")
        await database_sync_to_async(write)("Before the drop")
        before_drop = await receive_all(first_socket)
        last_seen = max(frame["id"] for frame in before_drop if frame.get("id"))
        await first_socket.disconnect()  # the network drops
        await database_sync_to_async(write)("While away 1")
        await database_sync_to_async(write)("While away 2", EntryKind.INTERNAL_NOTE)
        await second_socket.connect()
        await receive_until(second_socket, "hello")
        await second_socket.send_json_to({"type": "subscribe", "ticket_id": ticket.pk})
        await second_socket.send_json_to({"type": "resume", "last_event_id": last_seen})
        resumed, replayed = await receive_until(second_socket, "resumed")
        replayed += await receive_all(second_socket)
        await second_socket.disconnect()
        return before_drop, replayed, resumed["last_event_id"]

    before_drop, replayed, resumed_at = async_to_sync(scenario)()
    missed_ids = [frame["id"] for frame in replayed if frame.get("type") == "event"]
    expected = list(
        RealtimeEvent.objects.filter(
            id__gt=max(f["id"] for f in before_drop if f.get("id")),
            stream__in=["staff", f"ticket.{ticket.pk}"],
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    # The replay overlaps the last seconds (late commits); the socket drops what the
    # page had, and the page dedups by id as well: the union covers every event once.
    seen_before = {f["id"] for f in before_drop if f.get("id")}
    assert [i for i in missed_ids if i not in seen_before] == expected
    assert len(missed_ids) == len(set(missed_ids))
    bodies = [f["data"]["body_html"] for f in replayed if f.get("kind") == "entry.created"]
    assert any("While away 1" in body for body in bodies)
    assert any("While away 2" in body for body in bodies)
    assert resumed_at == latest_event_id()


def test_resume_from_before_the_retention_window_asks_for_a_reload() -> None:
    agent = make_agent()
    oldest = RealtimeEvent.objects.create(stream="staff", kind="seen", data={})
    for _ in range(3):
        RealtimeEvent.objects.create(stream="staff", kind="missed", data={})
    newest = RealtimeEvent.objects.create(stream="staff", kind="kept", data={})
    RealtimeEvent.objects.exclude(pk=newest.pk).delete()  # pruned while the page slept
    socket = agent_socket(agent)

    async def scenario() -> dict:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_json_to({"type": "resume", "last_event_id": oldest.id})
        frame, _ = await receive_until(socket, "resync")
        await socket.disconnect()
        return frame

    assert async_to_sync(scenario)()["type"] == "resync"


def test_viewers_and_typing_reach_the_other_agent_and_public_typing_reaches_the_requester() -> None:
    alice, bob = make_agent(name="Alice Agent"), make_light_agent(name="Bob Light")
    ticket = TicketFactory()
    requester_stream = GroupListener(f"ticket.{ticket.pk}.public")
    alice_socket, bob_socket = agent_socket(alice), agent_socket(bob)

    async def scenario() -> tuple[list[dict], list[dict]]:
        for socket in (alice_socket, bob_socket):
            await socket.connect()
            await receive_until(socket, "hello")
        await alice_socket.send_json_to({"type": "subscribe", "ticket_id": ticket.pk})
        await receive_until(alice_socket, "subscribed")
        await bob_socket.send_json_to({"type": "subscribe", "ticket_id": ticket.pk})
        await receive_until(bob_socket, "subscribed")
        alice_view = await receive_all(alice_socket)
        bob_view = await receive_all(bob_socket)
        await alice_socket.send_json_to(
            {"type": "typing", "ticket_id": ticket.pk, "is_typing": True, "public": True}
        )
        # Bob is a light agent: his "public" flag is ignored, he can only write notes.
        await bob_socket.send_json_to(
            {"type": "typing", "ticket_id": ticket.pk, "is_typing": True, "public": True}
        )
        alice_view += await receive_all(alice_socket)
        bob_view += await receive_all(bob_socket)
        await bob_socket.disconnect()
        alice_view += await receive_all(alice_socket)
        await alice_socket.disconnect()
        return alice_view, bob_view

    alice_view, bob_view = async_to_sync(scenario)()
    viewers_seen_by_alice = [f["viewers"] for f in alice_view if f["type"] == "viewers"]
    assert viewers_seen_by_alice == [[{"user_id": bob.pk, "name": "Bob Light"}], []]
    assert [f["viewers"] for f in bob_view if f["type"] == "viewers"] == [
        [{"user_id": alice.pk, "name": "Alice Agent"}]
    ]
    typing_seen_by_bob = [f["data"] for f in bob_view if f.get("kind") == "typing"]
    assert typing_seen_by_bob == [
        {"ticket_id": ticket.pk, "user_id": alice.pk, "name": "Alice Agent",
         "is_typing": True, "public": True}
    ]  # fmt: skip
    typing_seen_by_alice = [f["data"] for f in alice_view if f.get("kind") == "typing"]
    assert [(t["user_id"], t["public"]) for t in typing_seen_by_alice] == [(bob.pk, False)]
    public = requester_stream.received()
    requester_stream.close()
    assert [(m["kind"], m["data"]) for m in public] == [
        ("typing", {"ticket_id": ticket.pk, "author_name": "Alice Agent", "is_typing": True})
    ]


def test_typing_on_a_ticket_not_subscribed_is_refused() -> None:
    agent = make_agent()
    ticket = TicketFactory()
    socket = agent_socket(agent)

    async def scenario() -> list[dict]:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_json_to({"type": "typing", "ticket_id": ticket.pk, "is_typing": True})
        frames = await receive_all(socket)
        await socket.disconnect()
        return frames

    assert [f.get("code") for f in async_to_sync(scenario)()] == ["not_subscribed"]


def test_reply_after_a_colleagues_newer_entry_is_refused_until_confirmed() -> None:
    alice, bob = make_agent(), make_agent()
    ticket = TicketFactory()
    seen = Entry.objects.filter(ticket=ticket).latest("pk").pk
    actions.add_entry(actor=bob, ticket=ticket, body="Bob answered first")
    entries_before = Entry.objects.filter(ticket=ticket).count()

    with pytest.raises(NewerEntriesArrived) as refused:
        actions.add_entry(
            actor=alice, ticket=ticket, body="Alice's answer", seen_last_entry_id=seen
        )
    assert refused.value.status == 409
    assert refused.value.message == (
        f"1 new message has arrived on #{ticket.pk} since you opened it. "
        "Read them, then send your reply again to confirm."
    )
    assert Entry.objects.filter(ticket=ticket).count() == entries_before  # nothing saved

    newest = Entry.objects.filter(ticket=ticket).latest("pk").pk
    actions.add_entry(actor=alice, ticket=ticket, body="Alice's answer", seen_last_entry_id=newest)
    assert Entry.objects.filter(ticket=ticket).count() == entries_before + 1


def test_own_entries_and_system_events_do_not_count_as_collisions() -> None:
    alice = make_agent()
    ticket = TicketFactory()
    seen = Entry.objects.filter(ticket=ticket).latest("pk").pk
    actions.add_entry(actor=alice, ticket=ticket, body="Note from my other tab", kind="note")
    actions.update_ticket(actor=alice, ticket=ticket, changes={"priority": "high"})
    entry = actions.add_entry(actor=alice, ticket=ticket, body="Reply", seen_last_entry_id=seen)
    assert entry.pk


def test_workspace_composer_turns_the_conflict_into_a_confirm_prompt(client) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_agent(), make_agent()
    ticket = TicketFactory()
    client.force_login(alice)
    page = client.get(f"/tickets/{ticket.pk}/")
    seen = page.context["latest_entry_id"]
    assert f'name="seen_last_entry_id" value="{seen}"' in page.content.decode()
    actions.add_entry(actor=bob, ticket=ticket, body="Bob was quicker")

    refused = client.post(
        f"/tickets/{ticket.pk}/entries/",
        {"kind": "reply", "body": "My draft answer", "seen_last_entry_id": seen},
    )
    html = refused.content.decode()
    assert refused.status_code == 409
    assert "since you opened it" in html
    assert "My draft answer" in html  # the draft is kept
    assert "Bob was quicker" in html  # and the newer entry is shown
    newest = Entry.objects.filter(ticket=ticket).latest("pk").pk
    assert f'name="seen_last_entry_id" value="{newest}"' in html  # sending again confirms

    confirmed = client.post(
        f"/tickets/{ticket.pk}/entries/",
        {"kind": "reply", "body": "My draft answer", "seen_last_entry_id": newest},
    )
    assert confirmed.status_code == 302
    assert Entry.objects.filter(ticket=ticket, body_source="My draft answer").count() == 1
