from datetime import UTC, datetime

import pytest

from concierge.automation.actions import save_business_hours
from concierge.automation.models import BusinessHours
from concierge.automation.services import is_open, next_opening
from concierge.core.errors import PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def test_open_inside_local_hours_and_closed_outside(admin_user):
    hours = save_business_hours(
        actor=admin_user, name="Paris", timezone="Europe/Paris", schedule=WEEKDAYS_9_TO_5
    )
    # Monday 2026-11-23: Paris is UTC+1 in winter, so 08:30 UTC is 09:30 local.
    assert is_open(hours=hours, at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC))
    assert not is_open(hours=hours, at=datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    assert not is_open(hours=hours, at=datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # 17:00 local
    assert not is_open(hours=hours, at=datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday


def test_holiday_is_closed_and_next_opening_skips_it(admin_user):
    hours = save_business_hours(
        actor=admin_user,
        name="NY",
        timezone="America/New_York",
        schedule=WEEKDAYS_9_TO_5,
        holidays=["2026-11-26"],
    )
    thanksgiving_noon = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    assert not is_open(hours=hours, at=thanksgiving_noon)
    # Next opening: Friday 09:00 New York = 14:00 UTC.
    assert next_opening(hours=hours, at=thanksgiving_noon) == datetime(
        2026, 11, 27, 14, 0, tzinfo=UTC
    )


def test_no_business_hours_means_always_open():
    moment = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert is_open(hours=None, at=moment)
    assert next_opening(hours=None, at=moment) == moment


def test_midnight_end_covers_the_last_minute(admin_user):
    hours = save_business_hours(
        actor=admin_user, name="Late", timezone="UTC", schedule={"mon": [["18:00", "24:00"]]}
    )
    assert is_open(hours=hours, at=datetime(2026, 11, 23, 23, 59, tzinfo=UTC))
    assert not is_open(hours=hours, at=datetime(2026, 11, 24, 0, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("schedule", "holidays", "timezone"),
    [
        ({"funday": [["09:00", "17:00"]]}, [], "UTC"),
        ({"mon": [["17:00", "09:00"]]}, [], "UTC"),
        ({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, [], "UTC"),
        ({"mon": [["9am", "5pm"]]}, [], "UTC"),
        ({"mon": "09:00-17:00"}, [], "UTC"),
        ({}, ["next tuesday"], "UTC"),
        ({}, [], "Mars/Olympus_Mons"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_saved(admin_user, schedule, holidays, timezone):
    with pytest.raises(ValidationFailed):
        save_business_hours(
            actor=admin_user, name="Bad", timezone=timezone, schedule=schedule, holidays=holidays
        )
    assert not BusinessHours.objects.exists()


def test_agents_cannot_change_business_hours(agent_user):
    with pytest.raises(PermissionDenied):
        save_business_hours(actor=agent_user, name="Mine", timezone="UTC", schedule={})
    assert not BusinessHours.objects.exists()
