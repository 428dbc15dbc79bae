"""Writes for automation. Every write checks the policy, validates and records."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from concierge.accounts.models import User
from concierge.automation.models import WEEKDAYS, BusinessHours
from concierge.core import policy
from concierge.core.errors import PermissionDenied, ValidationFailed

_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _validate_schedule(schedule: Any) -> dict[str, list[list[str]]]:
    if not isinstance(schedule, dict):
        raise ValidationFailed(
            "The schedule must map weekdays to intervals.",
            field_errors={"schedule": ["Expected an object."]},
        )
    cleaned: dict[str, list[list[str]]] = {}
    for day, intervals in schedule.items():
        if day not in WEEKDAYS:
            raise ValidationFailed(
                f"Unknown weekday {str(day)[:10]!r}; use {', '.join(WEEKDAYS)}.",
                field_errors={"schedule": [f"Unknown weekday {str(day)[:10]!r}."]},
            )
        if not isinstance(intervals, list):
            raise ValidationFailed(
                f"{day}: expected a list of [start, end] intervals.",
                field_errors={"schedule": [f"{day}: expected a list."]},
            )
        day_intervals: list[list[str]] = []
        for interval in intervals:
            if (
                not isinstance(interval, list | tuple)
                or len(interval) != 2
                or not all(isinstance(v, str) and _CLOCK.match(v) for v in interval)
            ):
                raise ValidationFailed(
                    f'{day}: each interval is ["HH:MM", "HH:MM"].',
                    field_errors={"schedule": [f"{day}: bad interval."]},
                )
            start, end = interval
            if start == "24:00" or (end != "24:00" and end <= start):
                raise ValidationFailed(
                    f"{day}: {start}-{end} ends before it starts.",
                    field_errors={"schedule": [f"{day}: {start}-{end} is empty."]},
                )
            day_intervals.append([start, end])
        day_intervals.sort()
        for previous, current in zip(day_intervals, day_intervals[1:], strict=False):
            if current[0] < previous[1]:
                raise ValidationFailed(
                    f"{day}: intervals overlap.",
                    field_errors={"schedule": [f"{day}: intervals overlap."]},
                )
        cleaned[day] = day_intervals
    return cleaned


def _validate_holidays(holidays: Any) -> list[str]:
    if not isinstance(holidays, list):
        raise ValidationFailed(
            "Holidays must be a list of dates.",
            field_errors={"holidays": ["Expected a list of YYYY-MM-DD dates."]},
        )
    cleaned = []
    for value in holidays:
        try:
            cleaned.append(date.fromisoformat(str(value)).isoformat())
        except ValueError:
            raise ValidationFailed(
                f"{str(value)[:20]!r} is not a date (YYYY-MM-DD).",
                field_errors={"holidays": ["Use YYYY-MM-DD."]},
            ) from None
    return sorted(set(cleaned))


@transaction.atomic
def save_business_hours(
    *,
    actor: User,
    hours: BusinessHours | None = None,
    name: str,
    timezone: str,
    schedule: Any,
    holidays: Any = (),
) -> BusinessHours:
    """Creates or updates business hours (admins only)."""
    if not policy.can_manage_settings(actor):
        raise PermissionDenied("Only admins can change business hours.")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(
            "A name of 1 to 120 characters is required.",
            field_errors={"name": ["Required, at most 120 characters."]},
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"Unknown time zone {str(timezone)[:64]!r}.",
            field_errors={"timezone": ["Use an IANA name such as Europe/Paris."]},
        ) from None
    duplicate = BusinessHours.objects.filter(name__iexact=name)
    if hours is not None:
        duplicate = duplicate.exclude(pk=hours.pk)
    if duplicate.exists():
        raise ValidationFailed(
            f"Business hours named {name!r} already exist.",
            field_errors={"name": ["Already taken."]},
        )
    hours = hours or BusinessHours()
    hours.name = name
    hours.timezone = timezone
    hours.schedule = _validate_schedule(schedule)
    hours.holidays = _validate_holidays(list(holidays))
    hours.save()
    return hours
