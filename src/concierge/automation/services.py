"""Reads for automation: whether business hours are open, and when they open next."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from concierge.automation.models import WEEKDAYS, BusinessHours


def _parse_clock(value: str) -> time | None:
    """``"HH:MM"`` -> time; ``"24:00"`` -> None, meaning the end of the day."""
    if value == "24:00":
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _intervals_on(hours: BusinessHours, day: date) -> list[tuple[time, time | None]]:
    if day.isoformat() in set(hours.holidays or []):
        return []
    raw = (hours.schedule or {}).get(WEEKDAYS[day.weekday()], [])
    return [(_parse_clock(start) or time(0), _parse_clock(end)) for start, end in raw]


def is_open(*, hours: BusinessHours | None, at: datetime) -> bool:
    """True when ``at`` (aware) falls inside the schedule; no business hours means always open."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(hours.timezone))
    clock = local.time().replace(tzinfo=None)
    for start, end in _intervals_on(hours, local.date()):
        if start <= clock and (end is None or clock < end):
            return True
    return False


def next_opening(*, hours: BusinessHours | None, at: datetime) -> datetime | None:
    """The next time (UTC-aware) the schedule opens at or after ``at``; None when it never does.

    Looks ahead 370 days so a year of holidays cannot hide the next opening.
    """
    if hours is None or is_open(hours=hours, at=at):
        return at
    zone = ZoneInfo(hours.timezone)
    local = at.astimezone(zone)
    for offset in range(370):
        day = local.date() + timedelta(days=offset)
        for start, _end in sorted(_intervals_on(hours, day), key=lambda pair: pair[0]):
            opening = datetime.combine(day, start, tzinfo=zone)
            if opening >= local:
                return opening.astimezone(at.tzinfo)
    return None
