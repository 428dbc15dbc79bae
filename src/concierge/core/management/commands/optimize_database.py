"""Refreshes the query planner's statistics (ANALYZE).

SQLite keeps no statistics until ANALYZE runs; without them it can pick the
plain assignee index over the inbox's composite one and sort thousands of
rows for every "My open" page (measured: 81 ms -> 26 ms at 100,000 tickets).
PostgreSQL's autovacuum analyzes on its own, but a run right after a bulk
load does no harm. `./concierge serve` and `demo` run this after migrating.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = "Refresh the database's query-planner statistics (ANALYZE)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        elapsed = time.perf_counter() - started
        self.stdout.write(f"Planner statistics refreshed ({connection.vendor}, {elapsed:.1f} s).")
