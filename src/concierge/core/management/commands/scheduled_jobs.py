"""Lists the periodic jobs and their last runs; runs one now.

The task workers run these by themselves (``concierge.core.scheduler``);
this is for looking, for running one at once (``--run NAME``, also from
cron where ``CONCIERGE_SCHEDULER=0``) and for running whatever is due
(``--due``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from concierge.core import scheduler
from concierge.core.models import ScheduledJob


class Command(BaseCommand):
    help = "List periodic jobs and their last runs; --run NAME runs one now, --due runs those due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", metavar="NAME", help="run this job now, due or not")
        parser.add_argument("--due", action="store_true", help="run every job that is due")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = {job.name: job for job in scheduler.configured_jobs()}
        if options["run"]:
            job = jobs.get(options["run"])
            if job is None:
                raise CommandError(
                    f"No scheduled job named {options['run']!r}; jobs: {', '.join(jobs)}."
                )
            scheduler.claim(job, force=True)
            if not scheduler.run_job(job):
                raise CommandError(
                    f"{job.name} failed: {ScheduledJob.objects.get(name=job.name).last_error}"
                )
        elif options["due"]:
            ran = scheduler.run_due_jobs()
            self.stdout.write(f"Ran: {', '.join(ran) or 'nothing was due'}.")
        rows = {row.name: row for row in ScheduledJob.objects.all()}
        now = timezone.now()
        for name, job in jobs.items():
            row = rows.get(name)
            every = int(job.every.total_seconds())
            if row is None or row.last_started_at is None:
                last = "never run"
            else:
                ago = int((now - row.last_started_at).total_seconds())
                result = f"error: {row.last_error}" if row.last_error else row.last_outcome
                last = f"last run {ago} s ago ({row.runs} runs, {row.failures} failed): {result}"
            self.stdout.write(f"{name} (every {every} s) — {last}")
