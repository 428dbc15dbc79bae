"""``{% notification_bell %}``: the header link to the agent's notifications and unread count.

live.js raises the count when a notification for this agent arrives on the socket.
"""

from __future__ import annotations

from typing import Any

from django import template

from concierge.automation import services as automation_services
from concierge.core import policy

register = template.Library()


@register.inclusion_tag("workspace/_notification_bell.html", takes_context=True)
def notification_bell(context: template.Context) -> dict[str, Any]:
    """One count query per page; nothing for anyone who is not staff."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not policy.is_staff(user):
        return {"enabled": False}
    return {"enabled": True, "unread": automation_services.unread_notification_count(user=user)}
