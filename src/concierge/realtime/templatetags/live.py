"""``{% live_workspace %}``: what the workspace header needs to go live.

Renders the socket settings live.js reads (``#live-config``: socket path,
the newest event id at render time to resume from, the signed-in user),
a connection status and the team presence panel, which live.js fills from
the socket's ``hello`` and keeps current. Renders nothing for anyone who
may not open the agent socket.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest

from concierge.core import events, policy

register = template.Library()


@register.inclusion_tag("realtime/_live_workspace.html", takes_context=True)
def live_workspace(context: template.Context) -> dict[str, Any]:
    """One query (the newest event id); the team list arrives with the socket's hello."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not policy.can_use_agent_socket(user):
        return {"enabled": False}
    if not isinstance(request, ASGIRequest):
        # Served over WSGI (a plain WSGI server, Django's test live server):
        # no WebSockets here, so the page stays static instead of retrying
        # a socket that can never open.
        return {"enabled": False}
    return {
        "enabled": True,
        "socket_path": "/ws/agent/",
        "last_event_id": events.latest_event_id(),
        "user_id": user.pk,
        "heartbeat_seconds": settings.REALTIME_HEARTBEAT_SECONDS,
    }
