"""WebSocket routes. Each consumer module owns one path; add a line per consumer.

Origin checks are per route: staff sockets accept only pages of our own
hosts (``AllowedHostsOriginValidator`` against ``ALLOWED_HOSTS``; a browser
always sends ``Origin`` on a WebSocket handshake, and one without it is
refused), so a page on another site cannot open a socket carrying an agent's
session cookie. The chat widget runs on customers' sites and checks its
channel's allowed origins itself.
"""

from __future__ import annotations

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from concierge.realtime.agent import AgentConsumer
from concierge.realtime.widget import WidgetConsumer

websocket_urlpatterns = [
    path("ws/agent/", AllowedHostsOriginValidator(AgentConsumer.as_asgi()), name="ws-agent"),
    # Chat visitors: pages on customers' sites; each channel checks its own allowed origins.
    path("ws/widget/", WidgetConsumer.as_asgi(), name="ws-widget"),
]
