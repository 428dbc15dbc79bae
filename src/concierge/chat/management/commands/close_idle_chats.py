"""`manage close_idle_chats [--every SECONDS]`: ends chats idle past their channel's timeout.

Run it from cron (once a minute), or with ``--every 60`` as a small loop next
to the worker. The widget's own traffic also triggers a sweep at most once a
minute (see ``concierge.api.widget``), so a quiet laptop demo needs neither.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from concierge.chat.actions import close_idle_conversations


class Command(BaseCommand):
    help = "Ends live chats that have been idle longer than their channel's timeout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=float, default=0, help="Repeat every N seconds (0: run once)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            ended = close_idle_conversations()
            self.stdout.write(f"Ended {ended} idle chat(s).")
            if not options["every"]:
                return
            time.sleep(options["every"])
