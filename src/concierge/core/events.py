"""Work that must happen only after the database commit: events and tasks.

Sending an event or enqueueing a task inside an open transaction would let a
listener see (or act on) data that a rollback then removes; so every write
action queues its side effects here, and they run once the commit succeeds.

Real-time events (the live inbox, ticket pages, the chat widget) come in two
sorts:

* ``publish`` — a durable event describing a committed change (a new ticket, a
  new entry, a status change). It is stored as a ``core.RealtimeEvent`` row in
  the caller's transaction (the row id is the event id) and sent to the
  channel-layer group of its stream only after the commit. A client that
  reconnects sends the last id it saw and gets every later event on the
  streams it may read (``events_since``), so a dropped connection loses
  nothing.
* ``signal`` — an ephemeral notice (typing, viewers, presence pings): sent at
  once, never stored, never replayed; losing one costs nothing.

Streams (see /tmp/interfaces.md, section A, and ``concierge.realtime``):
``staff`` (inbox-wide), ``ticket.<id>`` (staff view of one ticket, internal
notes included), ``ticket.<id>.public`` (what the requester may see, never an
internal note), ``presence`` (staff availability). The publisher chooses the
stream, so publishing something private on a public stream is a leak: the
senders are in the domain actions, and tests capture what each socket gets.

Every message put on the channel layer has ``type == "realtime.event"`` and
the fields a client receives: ``id`` (``None`` for a signal), ``stream``,
``kind``, ``data``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from concierge.core.models import RealtimeEvent

logger = logging.getLogger(__name__)

# The ``type`` of every channel-layer message this module sends; a consumer
# handles it with a method named ``realtime_event``.
CHANNEL_MESSAGE_TYPE = "realtime.event"
STREAM_MAX_CHARS = 200
KIND_MAX_CHARS = 64
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def on_commit(callback: Callable[[], Any]) -> None:
    """Runs ``callback`` after the current transaction commits (at once when none is open)."""
    transaction.on_commit(callback, robust=True)


def enqueue_after_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueues a django-tasks ``task`` with ID arguments once the commit succeeded."""
    on_commit(lambda: task.enqueue(*args, **kwargs))


# --- real-time events ---------------------------------------------------------


def group_name(stream: str) -> str:
    """The channel-layer group for ``stream``.

    Channels accepts only ASCII letters, digits, ``-``, ``_`` and ``.`` in
    group names, under 100 characters; the ``rt.`` prefix keeps these groups
    apart from any other group a consumer joins.
    """
    return ("rt." + _GROUP_UNSAFE.sub("_", stream))[:99]


def _check(stream: str, kind: str) -> None:
    if not stream or len(stream) > STREAM_MAX_CHARS:
        raise ValueError(f"Stream name must be 1..{STREAM_MAX_CHARS} characters: {stream!r}")
    if not kind or len(kind) > KIND_MAX_CHARS:
        raise ValueError(f"Event kind must be 1..{KIND_MAX_CHARS} characters: {kind!r}")


def _channel_message(
    *, event_id: int | None, stream: str, kind: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": CHANNEL_MESSAGE_TYPE,
        "id": event_id,
        "stream": stream,
        "kind": kind,
        "data": data,
    }


# The event loop of the ASGI server in this process (set by concierge.asgi on
# each connection). The in-memory channel layer's queues belong to that loop.
_server_loop: asyncio.AbstractEventLoop | None = None
_server_thread_id: int | None = None


def remember_server_loop() -> None:
    """Called from the running ASGI server loop (see ``concierge.asgi``)."""
    global _server_loop, _server_thread_id
    _server_loop = asyncio.get_running_loop()
    _server_thread_id = threading.get_ident()


def _send_now(stream: str, message: dict[str, Any]) -> None:
    """Hands one ``message`` to the channel layer from synchronous code."""
    _send_batch([(stream, message)])


def _send_batch(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Hands ``messages`` (stream, message) to the channel layer, in order, from sync code.

    The in-memory layer's queues belong to the server's event loop: a send
    from a thread of its own (the embedded task worker) through
    ``async_to_sync`` would run on a private loop and not wake the sockets'
    readers, so with that layer every send from outside the loop's thread is
    handed to the server loop. The Redis layer works from any loop.

    All messages go in one hop to the loop: ``async_to_sync`` costs a thread
    switch and a few milliseconds per call, and one committed change often
    publishes on several streams (staff, ticket, public ticket, notices).
    """
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or not messages:  # no CHANNEL_LAYERS configured: nobody can be listening
        return

    async def send_in_order() -> None:
        for stream, message in messages:
            await layer.group_send(group_name(stream), message)

    loop = _server_loop
    if isinstance(layer, InMemoryChannelLayer):
        if loop is not None and loop.is_running() and threading.get_ident() != _server_thread_id:
            asyncio.run_coroutine_threadsafe(send_in_order(), loop).result(timeout=10)
        else:
            async_to_sync(send_in_order)()
        return
    # A shared layer (Redis): send from this process's long-lived sender loop, so
    # its connection pool is reused (a private loop per call opens and closes a
    # connection each time: ~5 ms per send, a third of an email's processing).
    asyncio.run_coroutine_threadsafe(send_in_order(), _sender_loop()).result(timeout=10)


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for channel-layer sends from synchronous code.

    It runs in a daemon thread, started on first use. A forked child (an RQ
    work horse) inherits the variable but not the thread, so the loop is
    keyed by process id and a child starts its own.
    """
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def publish(*, stream: str, kind: str, data: dict[str, Any]) -> None:
    """Call inside a write action. Stores a ``core.RealtimeEvent`` row (id = event id,
    used for replay after reconnect) in the current transaction; after commit sends it
    to the channel-layer group for ``stream``. ``data`` holds IDs and small,
    already-authorised fields only (it must be JSON-serialisable).

    A rolled-back transaction removes the row and never sends the message.
    """
    publish_many([(stream, kind, data)])


def publish_many(items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """``publish`` for several (stream, kind, data) at once: one INSERT, sends in order."""
    from concierge.core.models import RealtimeEvent

    rows = []
    for stream, kind, data in items:
        _check(stream, kind)
        rows.append(RealtimeEvent(stream=stream, kind=kind, data=data))
    if not rows:
        return
    if connection.features.can_return_rows_from_bulk_insert:
        RealtimeEvent.objects.bulk_create(rows)
    else:  # a backend that cannot hand back the new ids
        for row in rows:
            row.save()
    messages = [
        (row.stream, _channel_message(event_id=row.id, stream=row.stream, kind=row.kind,
                                      data=row.data))
        for row in rows
    ]  # fmt: skip

    def send_all() -> None:
        _send_batch(messages)

    # A send failure (Redis down) is logged by the robust on_commit and does
    # not undo the committed change: clients catch up by replay.
    on_commit(send_all)


def signal(*, stream: str, kind: str, data: dict[str, Any]) -> None:
    """Ephemeral (typing, presence pings): group_send at once, not stored, not replayed.

    For synchronous code; async code (a consumer) awaits ``asignal`` instead.
    """
    _check(stream, kind)
    _send_now(stream, _channel_message(event_id=None, stream=stream, kind=kind, data=data))


async def asignal(*, stream: str, kind: str, data: dict[str, Any]) -> None:
    """``signal`` for async callers (consumers run inside the event loop)."""
    from channels.layers import get_channel_layer

    _check(stream, kind)
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            group_name(stream),
            _channel_message(event_id=None, stream=stream, kind=kind, data=data),
        )


def events_since(
    *, streams: list[str], after_id: int, limit: int = 500, overlap_seconds: float = 0
) -> list[RealtimeEvent]:
    """Stored events on ``streams`` with an id above ``after_id``, oldest first.

    ``overlap_seconds`` also returns recent events at or below ``after_id``:
    ids are taken when a row is inserted but become visible at commit, so a
    long transaction can commit event 11 after a client already saw 12. A
    client that resumes with an overlap drops the ids it has already seen.
    """
    from concierge.core.models import RealtimeEvent

    if not streams:
        return []
    newer = Q(id__gt=after_id)
    if overlap_seconds > 0:
        newer |= Q(created_at__gte=timezone.now() - timedelta(seconds=overlap_seconds))
    return list(
        RealtimeEvent.objects.filter(newer, stream__in=list(streams)).order_by("id")[:limit]
    )


def latest_event_id() -> int:
    """The highest stored event id (0 when none): a page embeds it to resume from."""
    from concierge.core.models import RealtimeEvent

    latest = RealtimeEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return int(latest or 0)


def prune_events(*, older_than_days: float | None = None) -> int:
    """Deletes stored events older than the retention period; returns how many."""
    from concierge.core.models import RealtimeEvent

    days = settings.REALTIME_EVENT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = RealtimeEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def streams_for_ticket(ticket_id: int, *, public: bool) -> Iterable[str]:
    """The streams a ticket event goes to: staff's always, the requester's when public."""
    yield f"ticket.{ticket_id}"
    if public:
        yield f"ticket.{ticket_id}.public"
