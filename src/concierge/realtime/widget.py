"""``/ws/widget/?key=<public key>``: the chat visitor's live socket.

Who may connect: a page on one of the channel's allowed origins (checked
against the handshake's ``Origin``; refused with an ``origin_refused`` error
frame and close code 4403). The socket proves its visitor with the first
frame, so the token never sits in a URL or a server log:

``{"type": "resume", "token": "cv_...", "last_event_id": N}``
    authenticates, joins the public stream of each of the visitor's chats
    (``ticket.<id>.public``: never a staff stream), replays every stored
    event after N there, then ``{"type": "ready", "last_event_id": M,
    "conversations": [...]}``. ``N = 0`` skips the replay (the history came
    with the HTTP session call).
``{"type": "message", "body": "...", "ticket_id": T | null, "client_id": "..."}``
    a message (T null starts a chat); answered ``{"type": "ack", "client_id",
    "ticket_id", "entry"}`` or an ``error`` frame carrying the ``client_id``.
``{"type": "typing", "ticket_id": T, "is_typing": true}``  agents see it.
``{"type": "read", "ticket_id": T, "entry_id": E}``  read receipt.
``{"type": "ping"}``  answered with ``pong``.

Server -> client: ``event`` frames ``{"id", "stream", "kind", "data"}`` where
``entry.created`` data is rebuilt for this visitor from the database (public
replies of their own chats only, with signed attachment links), ``typing``
(an agent writes a public reply), ``read``, ``chat.ended`` and
``ticket.updated`` (status only); other kinds are dropped.

Limits: frames over ``CHAT_MAX_FRAME_BYTES`` get a ``message_too_large``
error; more than ``CHAT_SOCKET_RATE_LIMIT`` frames per window get
``rate_limited`` (three times that closes the socket); messages also count
against the visitor's limit shared by every node (``chat.actions.check_rate``).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from concierge.chat import actions as chat_actions
from concierge.chat import services as chat_services
from concierge.chat.models import ChatChannel, ChatVisitor
from concierge.core import events
from concierge.core.errors import ConciergeError, NotFound
from concierge.realtime.base import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, GuardedJsonConsumer

logger = logging.getLogger(__name__)

REPLAY_LIMIT = 500
REPLAY_OVERLAP_SECONDS = 15.0
SENT_IDS_REMEMBERED = 2000
MAX_CONVERSATIONS_FOLLOWED = 20
# What a visitor may receive of each public event kind (None: rebuilt or dropped).
FORWARDED_FIELDS = {
    "typing": ("ticket_id", "author_name", "is_typing"),
    "read": ("ticket_id", "reader", "entry_id"),
    "chat.ended": ("ticket_id", "reason"),
    "ticket.updated": ("ticket_id", "status"),
}


def _db(function: Any) -> Any:
    """Runs a chat service or action from the consumer.

    In production each call runs on the thread pool, in parallel with other
    sockets' calls (each action is one self-contained transaction), instead of
    queueing behind every socket of the process on Channels' one sync thread:
    with thousands of visitors that queue is the latency. Tests keep the single
    thread, the one holding the test's transaction.
    """
    return database_sync_to_async(function, thread_sensitive=settings.TESTING)


def visitor_stream(visitor_id: int) -> str:
    """Signals for every socket of one visitor (another tab started a chat)."""
    return f"chat.visitor.{visitor_id}"


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _channel_for(public_key: str) -> ChatChannel | None:
    try:
        return chat_services.get_active_channel(public_key=public_key)
    except NotFound:
        return None


def _visitor_for(
    channel: ChatChannel, token: str
) -> tuple[ChatVisitor | None, list[dict[str, Any]]]:
    visitor = chat_services.visitor_for_token(channel=channel, token=token)
    if visitor is None:
        return None, []
    conversations = [
        chat_services.conversation_payload(c, visitor=visitor, with_entries=False)
        for c in chat_services.visitor_conversations(visitor=visitor)
    ]
    return visitor, conversations


class WidgetConsumer(GuardedJsonConsumer):
    def limits(self) -> tuple[int, int, float]:
        return (
            int(getattr(settings, "CHAT_MAX_FRAME_BYTES", 16 * 1024)),
            int(getattr(settings, "CHAT_SOCKET_RATE_LIMIT", 30)),
            float(getattr(settings, "CHAT_SOCKET_RATE_WINDOW_SECONDS", 10)),
        )

    async def connect(self) -> None:
        self.visitor: ChatVisitor | None = None
        self.joined_groups: set[str] = set()
        self.ticket_ids: set[int] = set()
        self.sent_ids: set[int] = set()
        self.sent_order: deque[int] = deque()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        public_key = (query.get("key") or [""])[0]
        channel = await _db(_channel_for)(public_key) if public_key else None
        origin = _header(self.scope, b"origin")
        await self.accept()
        if channel is None:
            await self._refuse("unknown_channel", "No chat channel with this key.", CLOSE_FORBIDDEN)
            return
        if not chat_services.origin_allowed(channel, origin):
            await self._refuse(
                "origin_refused",
                f"This chat is not enabled on {origin or 'this page'}: "
                "add the site's origin to the channel's allowed origins.",
                CLOSE_FORBIDDEN,
            )
            return
        self.channel = channel

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        await self.send_error(code, message)
        await self.close(code=close_code)

    async def disconnect(self, code: int) -> None:
        for group in list(getattr(self, "joined_groups", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- groups and events ----------------------------------------------------------

    async def _join(self, stream: str) -> None:
        group = events.group_name(stream)
        if group not in self.joined_groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined_groups.add(group)

    async def _follow(self, ticket_id: int) -> None:
        if ticket_id in self.ticket_ids or len(self.ticket_ids) >= MAX_CONVERSATIONS_FOLLOWED:
            return
        await self._join(f"ticket.{ticket_id}.public")
        self.ticket_ids.add(ticket_id)

    def _first_time(self, event_id: int) -> bool:
        if event_id in self.sent_ids:
            return False
        self.sent_ids.add(event_id)
        self.sent_order.append(event_id)
        if len(self.sent_order) > SENT_IDS_REMEMBERED:
            self.sent_ids.discard(self.sent_order.popleft())
        return True

    def _ticket_of_stream(self, stream: str) -> int | None:
        parts = stream.split(".")
        if len(parts) == 3 and parts[0] == "ticket" and parts[2] == "public" and parts[1].isdigit():
            return int(parts[1])
        return None

    async def _visible_data(
        self, stream: str, kind: str, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        """What this visitor may see of an event, or None to drop it."""
        ticket_id = self._ticket_of_stream(stream)
        visitor = self.visitor
        if ticket_id is None or ticket_id not in self.ticket_ids or visitor is None:
            return None
        if kind == "entry.created":
            entry_id = data.get("entry_id")
            if not isinstance(entry_id, int):
                return None
            return await _db(chat_services.visitor_entry)(visitor=visitor, entry_id=entry_id)
        fields = FORWARDED_FIELDS.get(kind)
        if fields is None:
            return None
        visible = {name: data[name] for name in fields if name in data}
        if kind == "ticket.updated" and "status" not in visible:
            return None
        visible["ticket_id"] = ticket_id
        return visible

    async def _send_event(
        self, event_id: int | None, stream: str, kind: str, data: dict[str, Any]
    ) -> None:
        if event_id is not None and not self._first_time(event_id):
            return
        visible = await self._visible_data(stream, kind, data)
        if visible is None:
            return
        await self.send_json(
            {"type": "event", "id": event_id, "stream": stream, "kind": kind, "data": visible}
        )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        stream, kind = message["stream"], message["kind"]
        data = dict(message.get("data") or {})
        if stream == visitor_stream(getattr(self.visitor, "pk", -1)):
            if kind == "conversation.started" and isinstance(data.get("ticket_id"), int):
                await self._follow(data["ticket_id"])
                await self.send_json({"type": "conversation", "ticket_id": data["ticket_id"]})
            return
        await self._send_event(message.get("id"), stream, kind, data)

    # --- client messages --------------------------------------------------------------

    async def _not_authenticated(self) -> None:
        await self.send_error("not_authenticated", 'Send {"type": "resume", "token": ...} first.')

    async def on_ping(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_resume(self, message: dict[str, Any]) -> None:
        if not hasattr(self, "channel"):
            return
        token = message.get("token")
        last_event_id = message.get("last_event_id", 0)
        if (
            not isinstance(last_event_id, int)
            or isinstance(last_event_id, bool)
            or last_event_id < 0
        ):
            await self.send_error("invalid_message", "last_event_id must be a whole number >= 0.")
            return
        visitor, conversations = (
            await _db(_visitor_for)(self.channel, token) if isinstance(token, str) else (None, [])
        )
        if visitor is None:
            await self._refuse(
                "invalid_token",
                "This chat session is not valid any more; start a new one.",
                CLOSE_UNAUTHORIZED,
            )
            return
        self.visitor = visitor
        await self._join(visitor_stream(visitor.pk))
        for conversation in conversations:
            await self._follow(conversation["ticket_id"])
        if last_event_id > 0:
            await self._replay(last_event_id)
        latest = await _db(events.latest_event_id)()
        await self.send_json(
            {
                "type": "ready",
                "last_event_id": max(latest, last_event_id),
                "conversations": conversations,
                "max_message_chars": chat_actions.message_max_chars(),
                "max_frame_bytes": self.max_message_bytes,
            }
        )

    async def _replay(self, after_id: int) -> None:
        streams = [f"ticket.{ticket_id}.public" for ticket_id in sorted(self.ticket_ids)]
        page = await _db(events.events_since)(
            streams=streams,
            after_id=after_id,
            limit=REPLAY_LIMIT,
            overlap_seconds=REPLAY_OVERLAP_SECONDS,
        )
        # The overlap re-sends recent events at or below after_id (a late commit
        # may hide among them); the widget drops entries it already shows.
        for event in page:
            await self._send_event(event.id, event.stream, event.kind, event.data)

    def _ticket_id_of(self, message: dict[str, Any]) -> int | None:
        ticket_id = message.get("ticket_id")
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id <= 0:
            return None
        return ticket_id

    async def on_message(self, message: dict[str, Any]) -> None:
        visitor = self.visitor
        if visitor is None:
            await self._not_authenticated()
            return
        client_id = str(message.get("client_id") or "")[:64]
        body = message.get("body")
        if not isinstance(body, str):
            await self.send_error("invalid_message", "body must be text.", client_id=client_id)
            return
        raw_ticket = message.get("ticket_id")
        ticket_id = self._ticket_id_of(message)
        if raw_ticket is not None and ticket_id is None:
            await self.send_error(
                "invalid_message", "ticket_id must be a number.", client_id=client_id
            )
            return
        try:
            conversation, entry = await _db(chat_actions.send_visitor_message)(
                visitor=visitor,
                body=body,
                ticket_id=ticket_id,
                page_url=str(message.get("page_url") or "")[:500],
            )
            payload = await _db(chat_services.entry_payload)(entry, visitor=visitor)
        except ConciergeError as error:
            await self.send_error(error.code, error.message, client_id=client_id)
            return
        new_ticket = conversation.ticket_id not in self.ticket_ids
        await self._follow(conversation.ticket_id)
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "ticket_id": conversation.ticket_id,
                "entry": payload,
            }
        )
        if new_ticket:
            await events.asignal(
                stream=visitor_stream(visitor.pk),
                kind="conversation.started",
                data={"ticket_id": conversation.ticket_id},
            )

    async def on_typing(self, message: dict[str, Any]) -> None:
        visitor = self.visitor
        if visitor is None:
            await self._not_authenticated()
            return
        ticket_id = self._ticket_id_of(message)
        if ticket_id is None or ticket_id not in self.ticket_ids:
            return  # typing before the chat exists: nobody to tell yet
        try:
            data = await _db(chat_actions.visitor_typing)(
                visitor=visitor, ticket_id=ticket_id, is_typing=bool(message.get("is_typing"))
            )
        except ConciergeError as error:
            await self.send_error(error.code, error.message)
            return
        await events.asignal(stream=f"ticket.{ticket_id}", kind="typing", data=data)

    async def on_read(self, message: dict[str, Any]) -> None:
        visitor = self.visitor
        if visitor is None:
            await self._not_authenticated()
            return
        ticket_id = self._ticket_id_of(message)
        entry_id = message.get("entry_id")
        if ticket_id is None or not isinstance(entry_id, int) or isinstance(entry_id, bool):
            await self.send_error("invalid_message", "read needs ticket_id and entry_id.")
            return
        try:
            await _db(chat_actions.mark_read_by_visitor)(
                visitor=visitor, ticket_id=ticket_id, entry_id=entry_id
            )
        except ConciergeError as error:
            await self.send_error(error.code, error.message)
