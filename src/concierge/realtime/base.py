"""What every Concierge socket shares: bounded frames, rate limits, clear error frames.

A consumer subclasses ``GuardedJsonConsumer`` and writes one ``on_<type>``
coroutine per client message type (``{"type": "subscribe", ...}`` calls
``on_subscribe(message)``). Before a handler runs, the frame has passed:

* a size check (``REALTIME_MAX_MESSAGE_BYTES``) — a larger frame is answered with
  ``{"type": "error", "code": "message_too_large", "message": "... the limit
  is 8192 bytes."}`` and dropped;
* a rate limit (``REALTIME_RATE_LIMIT_MESSAGES`` per ``..._WINDOW_SECONDS``) —
  over it, ``rate_limited`` errors; a client that keeps going at three times
  the limit is disconnected (close code 4429);
* JSON parsing and a known ``type``.

Errors never close the socket for a single bad frame: a buggy client keeps
its live updates and is told what was wrong.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_RATE_LIMITED = 4429


class SlidingWindowLimiter:
    """Counts events in the last ``window_seconds``; ``allow()`` says if one more fits."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._times: deque[float] = deque()

    def hit(self) -> int:
        """Records one event; returns how many fall in the current window (this one included)."""
        now = time.monotonic()
        while self._times and now - self._times[0] > self.window_seconds:
            self._times.popleft()
        self._times.append(now)
        return len(self._times)


class GuardedJsonConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    def limits(self) -> tuple[int, int, float]:
        """(largest frame in bytes, frames allowed per window, window in seconds).

        Read per connection so a settings change (or a test override) applies
        to the next socket; a consumer with other needs overrides this.
        """
        return (
            settings.REALTIME_MAX_MESSAGE_BYTES,
            settings.REALTIME_RATE_LIMIT_MESSAGES,
            settings.REALTIME_RATE_LIMIT_WINDOW_SECONDS,
        )

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.max_message_bytes, self.rate_limit_messages, self.rate_limit_window_seconds = (
            self.limits()
        )
        self.limiter = SlidingWindowLimiter(
            self.rate_limit_messages, self.rate_limit_window_seconds
        )
        await super().websocket_connect(message)

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("binary_not_accepted", "Send JSON text frames only.")
            return
        size = len(text_data.encode("utf-8"))
        if size > self.max_message_bytes:
            await self.send_error(
                "message_too_large",
                f"The message is {size} bytes; the limit is {self.max_message_bytes} bytes.",
                limit=self.max_message_bytes,
            )
            return
        count = self.limiter.hit()
        if count > self.rate_limit_messages:
            if count > 3 * self.rate_limit_messages:
                await self.close(code=CLOSE_RATE_LIMITED)
                return
            await self.send_error(
                "rate_limited",
                f"Too many messages: at most {self.rate_limit_messages} per "
                f"{self.rate_limit_window_seconds:g} seconds.",
                limit=self.rate_limit_messages,
            )
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("invalid_message", 'A message is a JSON object with a "type".')
            return
        kind = content["type"]
        is_plain_name = kind.replace("_", "").replace(".", "").isalnum() and len(kind) <= 40
        handler = getattr(self, "on_" + kind.replace(".", "_"), None) if is_plain_name else None
        if handler is None:
            await self.send_error("unknown_type", f"Unknown message type {content['type']!r}.")
            return
        await handler(content)
