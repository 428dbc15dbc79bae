"""The embedded task worker: django-tasks-db's worker loop in a daemon thread."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)
_started = threading.Event()


def _run_worker(queue: str, interval: float) -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=[queue],
        interval=interval,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"embedded-{queue}",
        excluded_queue_names=[],
    )
    # run() installs no signal handlers (only the command does), so the thread
    # leaves uvicorn's alone and simply dies with the process.
    logger.info("Embedded task worker started for the %s queue.", queue)
    worker.run()


def start_embedded_worker(interval: float = 0.5) -> None:
    """Starts the worker threads, one per queue (a second call does nothing).

    One thread per queue: the quick "default" queue keeps up with new messages
    while the "long" one retrains a model or imports a help center."""
    if _started.is_set():
        return
    _started.set()
    for queue in settings.TASK_QUEUES:
        threading.Thread(
            target=_run_worker, args=(queue, interval), name=f"embedded-task-worker-{queue}",
            daemon=True,
        ).start()  # fmt: skip
    # The periodic jobs (settings.SCHEDULED_JOBS) run beside the worker.
    from concierge.core.scheduler import start_scheduler

    start_scheduler()
