from typing import Any

from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "concierge.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        checks.register(check_scheduled_jobs)


def check_scheduled_jobs(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A typo in SCHEDULED_JOBS is reported by every command, not found a day later."""
    from concierge.core import scheduler

    try:
        jobs = scheduler.configured_jobs()
    except ValueError as error:
        return [checks.Error(str(error), id="concierge.E001")]
    errors: list[checks.CheckMessage] = []
    for job in jobs:
        try:
            scheduler.resolve(job)
        except ImportError as error:
            errors.append(checks.Error(str(error), id="concierge.E002"))
    return errors
