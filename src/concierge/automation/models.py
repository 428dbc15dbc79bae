"""Automation: business hours (shared by chat, routing and SLAs), rules and assignment."""

from __future__ import annotations

from django.db import models

from concierge.core.models import TimestampedModel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHours(TimestampedModel):
    """When a team works: a weekly schedule in one time zone, minus holidays.

    ``schedule`` maps a weekday key (``mon`` .. ``sun``) to a list of
    ``["HH:MM", "HH:MM"]`` intervals in local time; a missing or empty day is
    closed. An end of ``"24:00"`` means midnight at the end of that day.
    ``holidays`` is a list of ``YYYY-MM-DD`` local dates that are closed all day.
    Stored as data (not rows per interval) because it is edited and read as
    one unit and is small; ``automation.actions.save_business_hours`` validates it.
    """

    name = models.CharField(max_length=120, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    schedule = models.JSONField(default=dict, blank=True)
    holidays = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return self.name
