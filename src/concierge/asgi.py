"""ASGI entry point: HTTP to Django, WebSockets to the Channels consumers.

``/ws/...`` connections pass the session middleware (``scope["user"]``),
then ``concierge.realtime.routing`` picks the consumer. The origin check is
per route, in ``routing.py``: the agent socket accepts only our own hosts
(``ALLOWED_HOSTS``, so another site's page cannot open a socket with an
agent's cookies), while the chat widget's socket is opened from customers'
sites and checks each chat channel's own list of allowed origins.

In the embedded profile it also runs the task worker:
``CONCIERGE_EMBEDDED_WORKER=1`` (set by ``./concierge demo`` and
``./concierge serve`` without Redis) starts the database task worker in a
daemon thread of this process, so a laptop needs one process, and events
from background work reach the sockets held by this same process (the
in-memory channel layer lives in this process only).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concierge.settings")

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up (get_asgi_application does it) before the consumers
# and the auth middleware import models.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from concierge.core.events import remember_server_loop  # noqa: E402
from concierge.realtime.routing import websocket_urlpatterns  # noqa: E402


class RememberServerLoop:
    """Notes the server's event loop, so events sent from worker threads reach its sockets.

    Only the in-memory channel layer (embedded profile) needs it; see
    ``concierge.core.events._send_now``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        remember_server_loop()
        return await self.app(scope, receive, send)


application = RememberServerLoop(
    ProtocolTypeRouter(
        {
            "http": django_application,
            "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        }
    )
)

if settings.EMBEDDED_WORKER:
    from concierge.core.worker import start_embedded_worker  # noqa: E402

    start_embedded_worker()
