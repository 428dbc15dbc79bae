"""Two server processes on one Redis behave as one system (the scaled profile).

Agent Ana is connected to node A, agent Bo to node B. Presence, viewers,
typing and an entry written through node A's HTTP API all reach Bo's socket
on node B; a socket that drops and comes back on the other node replays what
it missed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.realtime.conftest import Node, TwoNodes

# django_db: the nodes' database is copied from the test database, which
# pytest-django creates only for runs that hold a database test.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PASSWORD = "two-nodes-Correct-Horse-42"

SETUP = """
from concierge.accounts.models import User
from concierge.customers.models import Customer
from concierge.tickets import actions
for email, name in [("ana@nodes.test", "Ana Node-A"), ("bo@nodes.test", "Bo Node-B")]:
    User.objects.create_user(email, {password!r}, name=name, role="agent", availability="online")
customer = Customer.objects.create(name="Carla Customer")
ticket = actions.create_ticket(
    actor=None, requester=customer, subject="Parcel lost", body="Where is it?", channel="email"
)
print(ticket.pk)
"""


async def open_socket(nodes: TwoNodes, node: Node, cookie: str) -> ClientConnection:
    return await connect(
        node.ws_url + "/ws/agent/",
        additional_headers={"Cookie": cookie, "Origin": node.url},
        open_timeout=10,
    )


async def receive_matching(
    socket: ClientConnection, wanted: Callable[[dict], bool], timeout: float = 10.0
) -> dict:
    """The first frame ``wanted`` accepts (heartbeats and other frames are skipped)."""
    deadline = time.monotonic() + timeout
    skipped: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching frame within {timeout} s; skipped {skipped[-10:]}")
        frame = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        if wanted(frame):
            return frame
        skipped.append(frame)


def event(kind: str, **data: Any) -> Callable[[dict], bool]:
    def matches(frame: dict) -> bool:
        return (
            frame.get("type") == "event"
            and frame.get("kind") == kind
            and all(frame["data"].get(key) == value for key, value in data.items())
        )

    return matches


def frame_type(name: str, **fields: Any) -> Callable[[dict], bool]:
    def matches(frame: dict) -> bool:
        return frame.get("type") == name and all(frame.get(k) == v for k, v in fields.items())

    return matches


def test_presence_collisions_and_entries_cross_nodes(two_nodes: TwoNodes) -> None:
    ticket_id = int(two_nodes.run_python(SETUP.format(password=PASSWORD)).strip())
    ana_http = two_nodes.sign_in(two_nodes.a, "ana@nodes.test", PASSWORD)
    bo_http = two_nodes.sign_in(two_nodes.b, "bo@nodes.test", PASSWORD)
    ana_cookie, bo_cookie = two_nodes.cookie_header(ana_http), two_nodes.cookie_header(bo_http)
    ana_id = int(two_nodes.run_python(
        "from concierge.accounts.models import User\n"
        "print(User.objects.get(email='ana@nodes.test').pk)"
    ).strip())  # fmt: skip

    async def scenario() -> None:
        bo = await open_socket(two_nodes, two_nodes.b, bo_cookie)
        await receive_matching(bo, frame_type("hello"))

        # Presence: Ana opens the workspace on node A; Bo (node B) is told.
        ana = await open_socket(two_nodes, two_nodes.a, ana_cookie)
        await receive_matching(ana, frame_type("hello"))
        online = await receive_matching(bo, event("presence.changed", user_id=ana_id))
        assert online["data"] == {"user_id": ana_id, "name": "Ana Node-A", "status": "online"}

        # Collision: both open the ticket; each sees the other as a viewer.
        await bo.send(json.dumps({"type": "subscribe", "ticket_id": ticket_id}))
        await receive_matching(bo, frame_type("subscribed", ticket_id=ticket_id))
        await ana.send(json.dumps({"type": "subscribe", "ticket_id": ticket_id}))
        seen_by_bo = await receive_matching(
            bo, lambda f: f.get("type") == "viewers" and f["viewers"]
        )
        assert seen_by_bo["viewers"] == [{"user_id": ana_id, "name": "Ana Node-A"}]
        seen_by_ana = await receive_matching(
            ana, lambda f: f.get("type") == "viewers" and f["viewers"]
        )
        assert [viewer["name"] for viewer in seen_by_ana["viewers"]] == ["Bo Node-B"]

        await ana.send(json.dumps(
            {"type": "typing", "ticket_id": ticket_id, "is_typing": True, "public": True}
        ))  # fmt: skip
        typing = await receive_matching(bo, event("typing", user_id=ana_id))
        assert typing["data"]["is_typing"] is True

        # An entry written through node A's HTTP API reaches Bo's socket on node B.
        created = ana_http.post(
            f"/api/v1/tickets/{ticket_id}/entries",
            json={"kind": "note", "body": "Checking with the carrier"},
            headers={"X-CSRFToken": ana_http.cookies["csrftoken"]},
        )
        assert created.status_code == 201, created.text
        entry_id = created.json()["id"]
        note = await receive_matching(bo, event("entry.created", entry_id=entry_id))
        assert note["stream"] == f"ticket.{ticket_id}"
        assert "Checking with the carrier" in note["data"]["body_html"]
        inbox = await receive_matching(bo, event("ticket.updated", ticket_id=ticket_id))
        assert inbox["stream"] in ("staff", f"ticket.{ticket_id}")
        last_seen = max(note["id"], inbox["id"])

        # Bo's connection drops; Ana writes again; Bo comes back on the OTHER node.
        await bo.close()
        missed = ana_http.post(
            f"/api/v1/tickets/{ticket_id}/entries",
            json={"kind": "reply", "body": "We found your parcel"},
            headers={"X-CSRFToken": ana_http.cookies["csrftoken"]},
        )
        assert missed.status_code == 201, missed.text
        bo_again = await open_socket(two_nodes, two_nodes.a, bo_cookie)
        await receive_matching(bo_again, frame_type("hello"))
        await bo_again.send(json.dumps({"type": "subscribe", "ticket_id": ticket_id}))
        await bo_again.send(json.dumps({"type": "resume", "last_event_id": last_seen}))
        replayed = await receive_matching(
            bo_again, event("entry.created", entry_id=missed.json()["id"])
        )
        assert "We found your parcel" in replayed["data"]["body_html"]
        await receive_matching(bo_again, frame_type("resumed"))

        # Ana leaves the ticket page: Bo (now on node A too) sees the viewer go.
        await ana.close()
        gone = await receive_matching(
            bo_again, lambda f: f.get("type") == "viewers" and not f["viewers"]
        )
        assert gone["ticket_id"] == ticket_id
        await bo_again.close()

    try:
        asyncio.run(scenario())
    except AssertionError as failure:
        raise AssertionError(
            f"{failure}\n--- node A log ---\n{two_nodes.a.log()}\n"
            f"--- node B log ---\n{two_nodes.b.log()}"
        ) from failure
