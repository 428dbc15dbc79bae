"""The task worker of the scaled profile (``./concierge worker``), with the scheduler.

It runs the queue's own worker command (``rqworker`` when tasks go through
Redis, ``db_worker`` for the database queue) in this process and, beside
it, the scheduler thread that runs the periodic jobs (``SCHEDULED_JOBS``);
every worker runs one, and each job still runs once per interval.
Arguments after the command go to the queue's worker.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.conf import settings
from django.core.management import ManagementUtility
from django.core.management.base import BaseCommand, CommandParser

from concierge.core.scheduler import start_scheduler


class Command(BaseCommand):
    help = "Run the task worker (rqworker or db_worker) with the periodic-job scheduler."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("worker_args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        start_scheduler()
        # Both queues, the quick one first (settings.TASK_QUEUES); a dedicated worker
        # for one queue: ``./concierge worker --queue-name long`` (database queue)
        # or ``rqworker long`` directly.
        if settings.TASK_BACKEND == "rq":
            command = ["rqworker", *settings.TASK_QUEUES, "--job-class", "django_tasks_rq.Job"]
        else:
            command = ["db_worker", "--queue-name", ",".join(settings.TASK_QUEUES)]
        ManagementUtility([sys.argv[0], *command, *options["worker_args"]]).execute()
