"""core.events: stored in the transaction, sent after the commit, replayable, pruned."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from concierge.core import events
from concierge.core.models import RealtimeEvent
from concierge.tickets import actions
from concierge.tickets.models import EntryKind
from tests.factories import TicketFactory, make_agent

pytestmark = pytest.mark.django_db


class GroupListener:
    """A raw channel-layer channel in some groups: captures what a socket there would get.

    It keeps one event loop of its own: the Redis layer binds a channel's
    receive buffer to the loop that first received on it.
    """

    def __init__(self, *streams: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer = get_channel_layer()
        self.channel = self.loop.run_until_complete(self.layer.new_channel())
        self.groups = [events.group_name(stream) for stream in streams]
        for group in self.groups:
            self.loop.run_until_complete(self.layer.group_add(group, self.channel))

    def received(self) -> list[dict]:
        async def drain() -> list[dict]:
            messages = []
            while True:
                try:
                    messages.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.2))
                except TimeoutError:
                    return messages

        return self.loop.run_until_complete(drain())

    def close(self) -> None:
        for group in self.groups:
            self.loop.run_until_complete(self.layer.group_discard(group, self.channel))
        self.loop.close()


def test_publish_stores_the_event_and_sends_it_only_after_commit(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    listener = GroupListener("staff")
    with django_capture_on_commit_callbacks(execute=True):
        events.publish(stream="staff", kind="ticket.created", data={"ticket_id": 7})
        assert listener.received() == []  # still inside the transaction
        stored = RealtimeEvent.objects.get()
    messages = listener.received()
    listener.close()
    assert messages == [
        {
            "type": "realtime.event",
            "id": stored.id,
            "stream": "staff",
            "kind": "ticket.created",
            "data": {"ticket_id": 7},
        }
    ]


def test_rolled_back_write_stores_and_sends_nothing(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    agent = make_agent()
    ticket = TicketFactory()
    listener = GroupListener("staff", f"ticket.{ticket.pk}", f"ticket.{ticket.pk}.public")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            actions.add_entry(actor=agent, ticket=ticket, body="Never sent")
            raise RuntimeError("the request failed after the write")
    assert callbacks == []
    assert listener.received() == []
    assert RealtimeEvent.objects.count() == 0
    listener.close()


def test_public_streams_never_carry_internal_notes_or_other_customers_events(
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    agent = make_agent()
    mine, theirs = TicketFactory(), TicketFactory()
    my_public = GroupListener(f"ticket.{mine.pk}.public")
    their_public = GroupListener(f"ticket.{theirs.pk}.public")
    with django_capture_on_commit_callbacks(execute=True):
        actions.add_entry(
            actor=agent, ticket=mine, body="Customer is a VIP", kind=EntryKind.INTERNAL_NOTE
        )
        actions.add_entry(actor=agent, ticket=mine, body="Your refund is on its way")
        actions.update_ticket(actor=agent, ticket=mine, changes={"priority": "high", "tags": ["x"]})
    mine_got = my_public.received()
    theirs_got = their_public.received()
    my_public.close()
    their_public.close()
    assert theirs_got == []
    assert [(m["kind"], m["data"].get("fields")) for m in mine_got] == [
        ("ticket.updated", ["status"]),  # the reply opened the ticket
        ("entry.created", None),
    ]
    entry = next(m for m in mine_got if m["kind"] == "entry.created")["data"]
    assert entry["kind"] == "reply"
    assert "refund" in entry["body_html"]
    assert "author_user_id" not in entry  # agents' account ids stay on staff streams
    stored_public = RealtimeEvent.objects.filter(stream__endswith=".public")
    assert not any("VIP" in str(event.data) for event in stored_public)


def test_events_since_reads_only_the_asked_streams_after_the_id() -> None:
    first = RealtimeEvent.objects.create(stream="staff", kind="a", data={})
    RealtimeEvent.objects.create(stream="ticket.1", kind="b", data={})
    third = RealtimeEvent.objects.create(stream="staff", kind="c", data={})
    RealtimeEvent.objects.create(stream="ticket.2", kind="d", data={})
    assert [e.kind for e in events.events_since(streams=["staff"], after_id=0)] == ["a", "c"]
    assert [e.id for e in events.events_since(streams=["staff"], after_id=first.id)] == [third.id]
    assert events.events_since(streams=[], after_id=0) == []
    # With an overlap, recent events at or below the id come back too (late commits).
    overlapped = events.events_since(streams=["staff"], after_id=third.id, overlap_seconds=60)
    assert [e.kind for e in overlapped] == ["a", "c"]


def test_group_names_are_channel_layer_safe() -> None:
    assert events.group_name("ticket.12.public") == "rt.ticket.12.public"
    assert events.group_name("odd stream/name!") == "rt.odd_stream_name_"
    assert len(events.group_name("x" * 300)) < 100


def test_prune_deletes_only_events_past_retention(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REALTIME_EVENT_RETENTION_DAYS = 7
    old = RealtimeEvent.objects.create(stream="staff", kind="old", data={})
    RealtimeEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    RealtimeEvent.objects.create(stream="staff", kind="new", data={})
    call_command("prune_realtime_events")
    assert list(RealtimeEvent.objects.values_list("kind", flat=True)) == ["new"]
    assert events.prune_events() == 0  # safe to run twice


def test_a_long_message_travels_as_a_reference_not_inline() -> None:
    agent = make_agent()
    ticket = TicketFactory()
    actions.add_entry(actor=agent, ticket=ticket, body="word " * 5000, kind=EntryKind.INTERNAL_NOTE)
    short = actions.add_entry(actor=agent, ticket=ticket, body="Short note", kind="note")
    created = {
        event.data["entry_id"]: event.data
        for event in RealtimeEvent.objects.filter(
            kind="entry.created", stream=f"ticket.{ticket.pk}"
        )
    }
    long_event = next(data for entry_id, data in created.items() if entry_id != short.pk)
    assert (long_event["body_html"], long_event["body_truncated"]) == ("", True)
    assert created[short.pk]["body_truncated"] is False
    assert "Short note" in created[short.pk]["body_html"]
