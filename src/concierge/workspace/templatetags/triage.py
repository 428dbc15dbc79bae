"""``{% triage_panel ticket %}``: the AI triage panel on the ticket page (staff only);
``|triage_label``: a label as agents read it ("none of these" for out of scope)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("workspace/_triage_panel.html", takes_context=True)
def triage_panel(context: template.Context, ticket: Any) -> dict[str, Any]:
    from concierge.workspace.ai_views import triage_panel_context

    request = context.get("request")
    user = getattr(request, "user", None)
    panel = triage_panel_context(user, ticket)
    panel["csrf_token"] = context.get("csrf_token")
    panel["request"] = request
    return panel


@register.filter
def triage_label(label: str) -> str:
    from concierge.ai.services import display_label

    return display_label(label)
