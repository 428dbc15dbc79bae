"""Deletes stored real-time events past their retention period.

Events are kept only so a reconnecting client can replay what it missed; a
client away for days reloads its page instead. Open agent sockets already
prune once an hour (``realtime.agent``); run this from cron when nobody is
connected for long stretches. It is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from concierge.core.events import prune_events


class Command(BaseCommand):
    help = "Delete stored real-time events older than REALTIME_EVENT_RETENTION_DAYS (default 7)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            default=settings.REALTIME_EVENT_RETENTION_DAYS,
            help="Keep events newer than this many days.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = prune_events(older_than_days=options["days"])
        self.stdout.write(
            f"Deleted {deleted} real-time events older than {options['days']:g} days."
        )
