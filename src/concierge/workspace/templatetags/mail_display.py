"""Template filters for what the mail domain stores as JSON on entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

register = template.Library()


@register.filter
def from_iso(value: Any) -> datetime | None:
    """An ISO 8601 string from entry metadata as a datetime (None when it is not one)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
