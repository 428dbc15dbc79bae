"""An agent following a live chat on the ticket page is a read receipt for the visitor."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from concierge.chat import actions as chat_actions
from concierge.chat.models import ChatChannel, ChatConversation
from tests.factories import TicketFactory, make_agent
from tests.realtime.conftest import agent_socket, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def _follow(agent: object, ticket_id: int) -> None:
    socket = agent_socket(agent)

    async def scenario() -> None:
        await socket.connect()
        await receive_until(socket, "hello")
        await socket.send_json_to({"type": "subscribe", "ticket_id": ticket_id})
        await receive_until(socket, "subscribed")
        await socket.disconnect()

    async_to_sync(scenario)()


def test_agent_opening_a_chat_marks_the_visitors_messages_read() -> None:
    channel = ChatChannel.objects.create(name="Shop", allowed_origins=["https://shop.example"])
    visitor, _ = chat_actions.start_visitor(channel=channel, name="Vera")
    conversation, first = chat_actions.start_conversation(visitor=visitor, body="Hello?")

    _follow(make_agent(), conversation.ticket_id)

    conversation.refresh_from_db()
    assert conversation.agent_read_entry_id == first.pk


def test_following_a_ticket_that_is_not_a_chat_still_subscribes() -> None:
    ticket = TicketFactory()

    _follow(make_agent(), ticket.pk)  # reads "subscribed", else times out

    assert not ChatConversation.objects.exists()
