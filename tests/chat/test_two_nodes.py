"""Two server nodes on one Redis: a visitor on node A and an agent on node B chat both ways.

Uses the ``two_nodes`` fixture of tests/realtime (two uvicorn processes, one
database, the Redis channel layer). Everything crosses the nodes the way it
does in the scaled profile: the visitor's message is written by node A and
reaches the agent's socket on node B; the agent's reply (HTTP on node B)
reaches the visitor's socket on node A; typing both ways.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.realtime.conftest import TwoNodes, two_nodes  # noqa: F401 - the fixture

# django_db: the nodes' database is copied from the test database (see tests/realtime).
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

HOST_ORIGIN = "https://shop.example.com"
PASSWORD = "two-node-chat-password"
# Rows made on the nodes' database: an agent with a signed-in session (as after the
# login form) and an API token, and a chat channel; prints "key session token".
SETUP = f"""
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from concierge.accounts.actions import create_api_token
from concierge.accounts.models import User
from concierge.chat.models import ChatChannel
agent = User.objects.create_user("chat.agent@example.com", "{PASSWORD}", name="Nina Node-B",
                                 role="agent", availability="online")
session = SessionStore()
session[SESSION_KEY] = str(agent.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
session.create()
_, token = create_api_token(actor=agent, name="two-node test")
channel = ChatChannel.objects.create(name="Two-node chat", allowed_origins=["{HOST_ORIGIN}"])
print(channel.public_key, session.session_key, token)
"""


async def _next(socket: Any, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The first frame matching ``predicate``; fails with what arrived instead."""
    seen = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        except TimeoutError:
            break
        if predicate(frame):
            return frame
        seen.append(frame)
    raise AssertionError(f"no matching frame within {timeout} s; got {seen}")


def _is_event(kind: str, **data: Any) -> Any:
    def check(frame: dict[str, Any]) -> bool:
        return (
            frame.get("type") == "event"
            and frame.get("kind") == kind
            and all(frame.get("data", {}).get(k) == v for k, v in data.items())
        )

    return check


def test_visitor_on_node_a_and_agent_on_node_b_chat_both_ways(two_nodes: TwoNodes) -> None:  # noqa: F811
    public_key, session_key, api_token = (
        two_nodes.run_python(SETUP).strip().splitlines()[-1].split()
    )
    node_a, node_b = two_nodes.a, two_nodes.b
    session = httpx.post(
        f"{node_a.url}/widget/{public_key}/session/",
        json={},
        headers={"Origin": HOST_ORIGIN},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    token = session.json()["token"]
    cookie = f"sessionid={session_key}"

    async def scenario() -> None:
        async with (
            connect(
                f"{node_a.ws_url}/ws/widget/?key={public_key}",
                origin=HOST_ORIGIN,  # type: ignore[arg-type]
            ) as visitor,
            connect(
                f"{node_b.ws_url}/ws/agent/",
                origin=node_b.url,  # type: ignore[arg-type]
                additional_headers={"Cookie": cookie},
            ) as agent_socket,
        ):
            await visitor.send(json.dumps({"type": "resume", "token": token, "last_event_id": 0}))
            await _next(visitor, lambda f: f.get("type") == "ready")
            await _next(agent_socket, lambda f: f.get("type") == "hello")

            # Visitor (node A) -> agent (node B): the new chat reaches the live inbox.
            await visitor.send(
                json.dumps({"type": "message", "body": "Hello from node A", "client_id": "1"})
            )
            # The first ticket warms the node up (imports on first use): allow for it.
            ack = await _next(visitor, lambda f: f.get("type") in ("ack", "error"), timeout=60)
            assert ack["type"] == "ack", ack
            ticket_id = ack["ticket_id"]
            created = await _next(agent_socket, _is_event("ticket.created", ticket_id=ticket_id))
            assert created["data"]["channel"] == "chat"
            await agent_socket.send(json.dumps({"type": "subscribe", "ticket_id": ticket_id}))
            await _next(agent_socket, lambda f: f.get("type") == "subscribed")
            await visitor.send(
                json.dumps(
                    {
                        "type": "message",
                        "body": "Still there?",
                        "ticket_id": ticket_id,
                        "client_id": "2",
                    }
                )
            )
            entry = await _next(agent_socket, _is_event("entry.created", ticket_id=ticket_id))
            assert "Still there?" in entry["data"]["body_html"]
            await visitor.send(
                json.dumps({"type": "typing", "ticket_id": ticket_id, "is_typing": True})
            )
            typing = await _next(agent_socket, _is_event("typing", ticket_id=ticket_id))
            assert typing["data"]["who"] == "customer"

            # Agent (node B) -> visitor (node A): typing, then the reply over HTTP on node B.
            await agent_socket.send(
                json.dumps(
                    {"type": "typing", "ticket_id": ticket_id, "is_typing": True, "public": True}
                )
            )
            agent_typing = await _next(visitor, _is_event("typing", ticket_id=ticket_id))
            assert agent_typing["data"]["author_name"] == "Nina Node-B"
            reply = httpx.post(
                f"{node_b.url}/api/v1/tickets/{ticket_id}/entries",
                json={"kind": "reply", "body": "Hi from node B!"},
                headers={"Authorization": f"Bearer {api_token}"},
                timeout=10,
            )
            assert reply.status_code in (200, 201), reply.text
            answer = await _next(visitor, _is_event("entry.created", ticket_id=ticket_id))
            assert answer["data"]["body_html"] == "<p>Hi from node B!</p>\n"
            assert answer["data"]["author_name"] == "Nina Node-B"
            assert answer["data"]["from"] == "agent"

    try:
        asyncio.run(scenario())
    except Exception as error:
        raise AssertionError(
            f"{error}\n--- node A ---\n{node_a.log()}\n--- node B ---\n{node_b.log()}"
        ) from None
