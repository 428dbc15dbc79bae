"""``/ws/agent/``: the workspace's live socket (inbox, ticket pages, presence, collisions).

Who may connect: signed-in, active staff (session cookie; the route refuses
other sites' pages by ``Origin``). Anyone else is refused before the
handshake completes (close code 4403).

What it receives, per stream (see ``concierge.core.events``):

* ``staff`` — inbox-wide ticket events, re-checked per recipient with
  ``policy.can_receive_ticket_event``;
* ``presence`` — ``presence.changed`` signals; the first picture comes in
  ``hello``;
* ``ticket.<id>`` — after ``subscribe`` (checked with
  ``policy.can_subscribe_to_ticket_stream``): entries (internal notes too),
  updates, typing; viewer signals are folded into ``viewers`` frames.

Client -> server messages (JSON objects with a ``type``):

``{"type": "resume", "last_event_id": N}``
    replays every stored event after N on the socket's streams, then
    ``{"type": "resumed", "last_event_id": M}``; when N is older than the
    retention period, ``{"type": "resync"}`` asks the page to reload.
``{"type": "subscribe", "ticket_id": T}`` / ``{"type": "unsubscribe", ...}``
    follow one ticket; joining announces the agent as a viewer. Sent after
    ``resume`` (or with its own ``last_event_id``), it also replays the
    ticket's events from that point.
``{"type": "typing", "ticket_id": T, "is_typing": true, "public": true}``
    a draft in progress; a public reply's typing also reaches the requester
    (``ticket.<id>.public``), an internal note's never does.
``{"type": "activity"}``  the agent used the page (presence: not away).
``{"type": "availability", "status": "away"}``  the agent's own choice.
``{"type": "ping"}``  answered with ``pong``.

Server -> client frames: ``hello``, ``event`` (``{"id", "stream", "kind",
"data"}``; ``id`` is null for signals), ``viewers``, ``subscribed``,
``resumed``, ``resync``, ``heartbeat`` (every ``REALTIME_HEARTBEAT_SECONDS``;
a client that hears nothing for two periods reconnects), ``pong``, ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache

from concierge.accounts import actions as account_actions
from concierge.chat import actions as chat_actions
from concierge.core import events, policy, presence
from concierge.core.errors import ConciergeError
from concierge.realtime.base import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, GuardedJsonConsumer
from concierge.tickets.models import Ticket

logger = logging.getLogger(__name__)

STAFF_STREAM = "staff"
PRESENCE_STREAM = presence.PRESENCE_STREAM
MAX_TICKET_SUBSCRIPTIONS = 20
REPLAY_PAGE = 500
REPLAY_MAX_PAGES = 20  # 10,000 missed events: past that, reloading the page is faster
# Ids are taken at insert and seen at commit: replay also re-sends the last
# few seconds so an event that committed late is not skipped (the client and
# this consumer drop ids they already have).
REPLAY_OVERLAP_SECONDS = 15.0
ACTIVITY_RECORD_EVERY_SECONDS = 15.0
SENT_IDS_REMEMBERED = 5000
PRUNE_EVERY_SECONDS = 3600


def ticket_stream(ticket_id: int) -> str:
    return f"ticket.{ticket_id}"


@database_sync_to_async
def _load_ticket_for(user: Any, ticket_id: int) -> tuple[bool, bool]:
    """(may subscribe, may show public typing) for ``user`` on ticket ``ticket_id``."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or not policy.can_subscribe_to_ticket_stream(user, ticket):
        return False, False
    return True, policy.can_type_public_reply(user, ticket)


def record_agent_heartbeat(*, user_id: int, active: bool = False) -> presence.PresenceChange | None:
    """A tab's heartbeat; a workspace that was offline and is back may take waiting tickets.

    Assignment counts only agents whose workspace is connected
    (``automation.assignment.assignable_agent_ids``), so the moment one
    connects again the queues of their teams are drained (a background task).
    """
    change = presence.record_heartbeat(user_id=user_id, active=active)
    if change is not None and change.status != presence.OFFLINE:
        from concierge.automation import tasks as routing_tasks

        events.enqueue_after_commit(routing_tasks.fill_free_capacity, user_id)
    return change


@database_sync_to_async
def _current_user(user_id: int, session: Any) -> Any:
    """The user row as it is now, or None when deactivated or signed out since connecting."""
    if session is not None and session.session_key and not session.exists(session.session_key):
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


class AgentConsumer(GuardedJsonConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not policy.can_use_agent_socket(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.user_id = int(user.pk)
        self.user_name = user.name or user.email
        self.joined_groups: set[str] = set()
        self.ticket_ids: set[int] = set()
        # Followed tickets that are live chats: the agent reading them is a read receipt.
        self.chat_ticket_ids: set[int] = set()
        self.public_typing_allowed: dict[int, bool] = {}
        # ticket_id -> connection (channel name) -> {"user_id", "name", "heard_at"}
        self.viewers: dict[int, dict[str, dict[str, Any]]] = {}
        self.sent_ids: set[int] = set()
        self.sent_order: deque[int] = deque()
        self.resume_from: int | None = None
        self.last_activity_recorded = 0.0
        for stream in (STAFF_STREAM, PRESENCE_STREAM):
            await self._join(stream)
        await self.accept()
        await database_sync_to_async(record_agent_heartbeat)(user_id=self.user_id, active=True)
        await self.send_json(
            {
                "type": "hello",
                "user_id": self.user_id,
                "heartbeat_seconds": settings.REALTIME_HEARTBEAT_SECONDS,
                "max_message_bytes": self.max_message_bytes,
                "rate_limit": {
                    "messages": self.rate_limit_messages,
                    "window_seconds": self.rate_limit_window_seconds,
                },
                "presence": await database_sync_to_async(presence.team_presence)(),
                "last_event_id": await database_sync_to_async(events.latest_event_id)(),
            }
        )
        self.heartbeat_task = asyncio.ensure_future(self._heartbeat_loop())

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "heartbeat_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for ticket_id in list(getattr(self, "ticket_ids", ())):
            await self._announce_viewer(ticket_id, "viewer.left")
        for group in list(getattr(self, "joined_groups", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- groups -------------------------------------------------------------

    async def _join(self, stream: str) -> None:
        group = events.group_name(stream)
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined_groups.add(group)

    async def _leave(self, stream: str) -> None:
        group = events.group_name(stream)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.joined_groups.discard(group)

    def _streams(self) -> list[str]:
        """Stored streams this socket reads (presence is never stored)."""
        return [STAFF_STREAM, *(ticket_stream(ticket_id) for ticket_id in sorted(self.ticket_ids))]

    # --- sending events -----------------------------------------------------

    def _may_receive(self, stream: str, data: dict[str, Any]) -> bool:
        if stream == STAFF_STREAM:
            return policy.can_receive_ticket_event(self.user, data)
        return True

    def _first_time(self, event_id: int) -> bool:
        """False for an event id this socket already got (replay and live overlap)."""
        if event_id in self.sent_ids:
            return False
        self.sent_ids.add(event_id)
        self.sent_order.append(event_id)
        if len(self.sent_order) > SENT_IDS_REMEMBERED:
            self.sent_ids.discard(self.sent_order.popleft())
        return True

    async def _send_event(
        self, event_id: int | None, stream: str, kind: str, data: dict[str, Any]
    ) -> None:
        if event_id is not None and not self._first_time(event_id):
            return
        if not self._may_receive(stream, data):
            return
        await self.send_json(
            {"type": "event", "id": event_id, "stream": stream, "kind": kind, "data": data}
        )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """A message from a channel-layer group this socket joined (see core.events)."""
        stream, kind, data = message["stream"], message["kind"], dict(message.get("data") or {})
        if kind.startswith("viewer."):
            await self._on_viewer_signal(kind, data)
            return
        if kind == "typing" and data.pop("connection", None) == self.channel_name:
            return  # our own keystrokes
        await self._send_event(message.get("id"), stream, kind, data)
        chat_ticket_id = data.get("ticket_id")
        if kind == "entry.created" and chat_ticket_id in self.chat_ticket_ids:
            # The chat is open on this agent's screen: the visitor sees "Read".
            await self._mark_chat_read(chat_ticket_id)

    async def _mark_chat_read(self, ticket_id: int) -> bool:
        """Records that this agent saw the chat; False when the ticket is not a chat."""
        read = await database_sync_to_async(chat_actions.mark_read_by_agent)(
            actor=self.user, ticket_id=ticket_id
        )
        return read is not None

    # --- client messages ----------------------------------------------------

    async def on_ping(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_resume(self, message: dict[str, Any]) -> None:
        last_event_id = message.get("last_event_id", 0)
        if (
            not isinstance(last_event_id, int)
            or isinstance(last_event_id, bool)
            or last_event_id < 0
        ):
            await self.send_error("invalid_message", "last_event_id must be a whole number >= 0.")
            return
        self.resume_from = last_event_id
        await self._replay(self._streams(), last_event_id)

    async def _replay(self, streams: list[str], after_id: int) -> None:
        if after_id > 0 and await database_sync_to_async(_events_pruned_after)(after_id):
            await self.send_json({"type": "resync", "reason": "Missed events are no longer kept."})
            return
        cursor = after_id
        overlap = REPLAY_OVERLAP_SECONDS
        for _page in range(REPLAY_MAX_PAGES):
            page = await database_sync_to_async(events.events_since)(
                streams=streams, after_id=cursor, limit=REPLAY_PAGE, overlap_seconds=overlap
            )
            overlap = 0
            for event in page:
                await self._send_event(event.id, event.stream, event.kind, event.data)
            if len(page) < REPLAY_PAGE:
                break
            cursor = max(cursor, page[-1].id)
        else:
            await self.send_json({"type": "resync", "reason": "Too many missed events."})
            return
        latest = await database_sync_to_async(events.latest_event_id)()
        await self.send_json({"type": "resumed", "last_event_id": max(latest, after_id)})

    def _ticket_id_of(self, message: dict[str, Any]) -> int | None:
        ticket_id = message.get("ticket_id")
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id <= 0:
            return None
        return ticket_id

    async def on_subscribe(self, message: dict[str, Any]) -> None:
        ticket_id = self._ticket_id_of(message)
        if ticket_id is None:
            await self.send_error("invalid_message", "ticket_id must be a ticket number.")
            return
        if ticket_id not in self.ticket_ids:
            if len(self.ticket_ids) >= MAX_TICKET_SUBSCRIPTIONS:
                await self.send_error(
                    "limit_exceeded",
                    f"At most {MAX_TICKET_SUBSCRIPTIONS} tickets can be followed per connection.",
                )
                return
            allowed, public_typing = await _load_ticket_for(self.user, ticket_id)
            if not allowed:
                await self.send_error("not_found", "No such ticket.", ticket_id=ticket_id)
                return
            await self._join(ticket_stream(ticket_id))
            self.ticket_ids.add(ticket_id)
            self.public_typing_allowed[ticket_id] = public_typing
            self.viewers.setdefault(ticket_id, {})
            await self._announce_viewer(ticket_id, "viewer.joined")
            if await self._mark_chat_read(ticket_id):
                self.chat_ticket_ids.add(ticket_id)
        await self.send_json({"type": "subscribed", "ticket_id": ticket_id})
        # Following a ticket after resuming: catch up on it from the same point.
        last_event_id = message.get("last_event_id", self.resume_from)
        if isinstance(last_event_id, int) and not isinstance(last_event_id, bool):
            await self._replay([ticket_stream(ticket_id)], max(last_event_id, 0))

    async def on_unsubscribe(self, message: dict[str, Any]) -> None:
        ticket_id = self._ticket_id_of(message)
        if ticket_id is None or ticket_id not in self.ticket_ids:
            return
        await self._announce_viewer(ticket_id, "viewer.left")
        await self._leave(ticket_stream(ticket_id))
        self.ticket_ids.discard(ticket_id)
        self.chat_ticket_ids.discard(ticket_id)
        self.viewers.pop(ticket_id, None)
        self.public_typing_allowed.pop(ticket_id, None)

    async def on_typing(self, message: dict[str, Any]) -> None:
        ticket_id = self._ticket_id_of(message)
        if ticket_id is None or ticket_id not in self.ticket_ids:
            await self.send_error("not_subscribed", "Subscribe to the ticket before typing on it.")
            return
        is_typing = bool(message.get("is_typing", True))
        is_public = bool(message.get("public")) and self.public_typing_allowed.get(ticket_id, False)
        await events.asignal(
            stream=ticket_stream(ticket_id),
            kind="typing",
            data={
                "ticket_id": ticket_id,
                "user_id": self.user_id,
                "name": self.user_name,
                "is_typing": is_typing,
                "public": is_public,
                "connection": self.channel_name,
            },
        )
        if is_public:
            # The requester sees that an agent is answering, never a note being written.
            await events.asignal(
                stream=f"{ticket_stream(ticket_id)}.public",
                kind="typing",
                data={
                    "ticket_id": ticket_id,
                    "author_name": self.user_name,
                    "is_typing": is_typing,
                },
            )

    async def on_activity(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last_activity_recorded < ACTIVITY_RECORD_EVERY_SECONDS:
            return
        self.last_activity_recorded = now
        await database_sync_to_async(record_agent_heartbeat)(user_id=self.user_id, active=True)

    async def on_availability(self, message: dict[str, Any]) -> None:
        status = message.get("status")
        try:
            await database_sync_to_async(account_actions.set_availability)(
                actor=self.user, availability=str(status)
            )
        except ConciergeError as error:
            await self.send_error(error.code, error.message)
            return
        self.user.availability = str(status)
        await database_sync_to_async(presence.refresh)(user_id=self.user_id)

    # --- viewers (collision detection) --------------------------------------

    async def _announce_viewer(self, ticket_id: int, kind: str) -> None:
        await events.asignal(
            stream=ticket_stream(ticket_id),
            kind=kind,
            data={
                "ticket_id": ticket_id,
                "user_id": self.user_id,
                "name": self.user_name,
                "connection": self.channel_name,
            },
        )

    async def _on_viewer_signal(self, kind: str, data: dict[str, Any]) -> None:
        """Keeps this socket's list of who else has the ticket open.

        No shared store: a newcomer announces ``viewer.joined``, everyone
        viewing answers it directly with ``viewer.here``, every viewer
        repeats ``viewer.here`` each heartbeat, and ``viewer.left`` (or
        silence for three heartbeats, a crashed node) removes one. The same
        signals cross nodes through the Redis channel layer.
        """
        ticket_id, connection = data.get("ticket_id"), data.get("connection")
        if ticket_id not in self.ticket_ids or not connection or connection == self.channel_name:
            return
        known = self.viewers.setdefault(ticket_id, {})
        before = self._viewer_list(ticket_id)
        if kind == "viewer.left":
            known.pop(connection, None)
        else:
            known[connection] = {
                "user_id": data.get("user_id"),
                "name": data.get("name", ""),
                "heard_at": time.monotonic(),
            }
            if kind == "viewer.joined":
                await self.channel_layer.send(
                    connection,
                    {
                        "type": events.CHANNEL_MESSAGE_TYPE,
                        "id": None,
                        "stream": ticket_stream(ticket_id),
                        "kind": "viewer.here",
                        "data": {
                            "ticket_id": ticket_id,
                            "user_id": self.user_id,
                            "name": self.user_name,
                            "connection": self.channel_name,
                        },
                    },
                )
        if self._viewer_list(ticket_id) != before:
            await self._send_viewers(ticket_id)

    def _viewer_list(self, ticket_id: int) -> list[dict[str, Any]]:
        people: dict[Any, str] = {}
        for viewer in self.viewers.get(ticket_id, {}).values():
            if viewer["user_id"] != self.user_id:
                people[viewer["user_id"]] = viewer["name"]
        return [
            {"user_id": user_id, "name": name}
            for user_id, name in sorted(people.items(), key=lambda item: str(item[1]))
        ]

    async def _send_viewers(self, ticket_id: int) -> None:
        await self.send_json(
            {"type": "viewers", "ticket_id": ticket_id, "viewers": self._viewer_list(ticket_id)}
        )

    # --- heartbeat ------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = settings.REALTIME_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._heartbeat(interval):
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the socket alive; the next beat retries
                logger.exception("Agent socket heartbeat failed for user %s", self.user_id)

    async def _heartbeat(self, interval: float) -> bool:
        """One beat; False when the socket was closed because access ended."""
        current = await _current_user(self.user_id, self.scope.get("session"))
        if current is None or not policy.can_use_agent_socket(current):
            await self.send_error("signed_out", "Your session ended; sign in again.")
            await self.close(code=CLOSE_UNAUTHORIZED)
            return False
        self.user = current
        await database_sync_to_async(record_agent_heartbeat)(user_id=self.user_id)
        await self.send_json({"type": "heartbeat"})
        stale_before = time.monotonic() - 3 * interval
        for ticket_id in list(self.ticket_ids):
            await self._announce_viewer(ticket_id, "viewer.here")
            known = self.viewers.get(ticket_id, {})
            stale = [conn for conn, viewer in known.items() if viewer["heard_at"] < stale_before]
            if stale:
                for conn in stale:
                    known.pop(conn, None)
                await self._send_viewers(ticket_id)
        # One sweep per heartbeat period across all sockets and nodes (the
        # cache is Redis when scaled), moving quiet agents to away / offline.
        if await cache.aadd("realtime:presence-sweep", 1, timeout=max(int(interval), 1)):
            await database_sync_to_async(presence.sweep)()
        # Retention without a scheduler: once an hour, whichever socket beats first.
        if await cache.aadd("realtime:prune-events", 1, timeout=PRUNE_EVERY_SECONDS):
            await database_sync_to_async(events.prune_events)()
        return True


def _events_pruned_after(after_id: int) -> bool:
    """True when events just after ``after_id`` were already deleted by retention."""
    from concierge.core.models import RealtimeEvent

    oldest = RealtimeEvent.objects.order_by("id").values_list("id", flat=True).first()
    return oldest is not None and oldest > after_id + 1 and after_id < oldest
