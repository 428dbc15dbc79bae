"""The embedded task worker: django-tasks-db's worker loop in a daemon thread."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)
_started = threading.Event()


def start_embedded_worker(interval: float = 0.5) -> None:
    """Starts one worker thread per process (a second call does nothing)."""
    if _started.is_set():
        return
    _started.set()

    def run() -> None:
        from django_tasks_db.management.commands.db_worker import Worker

        worker = Worker(
            queue_names=["*"],
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="embedded",
            excluded_queue_names=[],
        )
        # run() installs no signal handlers (only the command does), so the
        # thread leaves uvicorn's alone and simply dies with the process.
        logger.info("Embedded task worker started.")
        worker.run()

    threading.Thread(target=run, name="embedded-task-worker", daemon=True).start()
    # The periodic jobs (settings.SCHEDULED_JOBS) run beside the worker.
    from concierge.core.scheduler import start_scheduler

    start_scheduler()
