"""Periodic jobs, run by the task workers themselves: no cron to set up.

``settings.SCHEDULED_JOBS`` names each job, the function it calls (a dotted
path to a plain function taking no arguments, or to a django-tasks task,
which is then enqueued) and how often (seconds). Every task worker process
(the embedded worker of ``./concierge demo`` / ``serve``, each
``./concierge worker``) runs a scheduler thread that wakes every
``SCHEDULER_TICK_SECONDS`` and runs the jobs that are due.

With several workers on several machines, each job still runs once per
interval: a worker first claims the job's ``core.ScheduledJob`` row with a
conditional UPDATE (``last_started_at`` older than the interval -> now),
and only the one whose UPDATE changed the row runs it. A job that fails is
recorded (``last_error``, ``failures``) and tried again at its next interval;
it never stops the others. ``./concierge manage scheduled_jobs`` lists them and
runs one at once.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

OUTCOME_MAX_CHARS = 300
_started = threading.Event()


@dataclass(frozen=True)
class JobSpec:
    name: str
    call: str  # dotted path
    every: timedelta
    description: str = ""


def configured_jobs() -> list[JobSpec]:
    """``settings.SCHEDULED_JOBS`` as specs; raises ValueError naming what is wrong."""
    jobs = []
    for name, spec in getattr(settings, "SCHEDULED_JOBS", {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("call"), str):
            raise ValueError(f"SCHEDULED_JOBS[{name!r}] needs a 'call' (a dotted path).")
        every = spec.get("every")
        if not isinstance(every, (int, float)) or every < 1:
            raise ValueError(f"SCHEDULED_JOBS[{name!r}]['every'] must be a number of seconds >= 1.")
        if len(name) > 64:
            raise ValueError(f"SCHEDULED_JOBS name {name!r} is longer than 64 characters.")
        jobs.append(
            JobSpec(
                name=name,
                call=spec["call"],
                every=timedelta(seconds=float(every)),
                description=str(spec.get("description", "")),
            )
        )
    return jobs


def resolve(job: JobSpec) -> Callable[[], Any]:
    """The job's function; ImportError names the job when its path is wrong."""
    try:
        target = import_string(job.call)
    except ImportError as error:
        raise ImportError(
            f"Scheduled job {job.name!r}: cannot import {job.call!r} ({error})"
        ) from error
    if hasattr(target, "enqueue"):  # a django-tasks task: run on the queue, with its retries
        return lambda: (target.enqueue(), "queued")[1]
    return target


def claim(job: JobSpec, *, now: datetime | None = None, force: bool = False) -> bool:
    """True when this process may run ``job`` now (its interval has passed and we won the row)."""
    from concierge.core.models import ScheduledJob

    now = now or timezone.now()
    if not ScheduledJob.objects.filter(name=job.name).exists():
        try:
            with transaction.atomic():
                ScheduledJob.objects.create(name=job.name)
        except IntegrityError:
            pass  # another worker created it first
    due = ScheduledJob.objects.filter(name=job.name)
    if not force:
        due = due.filter(Q(last_started_at__isnull=True) | Q(last_started_at__lte=now - job.every))
    return due.update(last_started_at=now) == 1


def run_job(job: JobSpec) -> bool:
    """Runs one claimed job and records how it went; True when it succeeded."""
    from concierge.core.models import ScheduledJob

    try:
        outcome = resolve(job)()
    except Exception as error:
        logger.exception("scheduled job %s failed", job.name)
        ScheduledJob.objects.filter(name=job.name).update(
            last_finished_at=timezone.now(),
            last_error=(f"{type(error).__name__}: {error}")[:OUTCOME_MAX_CHARS],
            runs=F("runs") + 1,
            failures=F("failures") + 1,
        )
        return False
    ScheduledJob.objects.filter(name=job.name).update(
        last_finished_at=timezone.now(),
        last_outcome=("" if outcome is None else str(outcome))[:OUTCOME_MAX_CHARS],
        last_error="",
        runs=F("runs") + 1,
    )
    return True


def run_due_jobs(*, now: datetime | None = None) -> list[str]:
    """Claims and runs every job that is due; returns the names of those this process ran."""
    ran = []
    for job in configured_jobs():
        if claim(job, now=now):
            run_job(job)
            ran.append(job.name)
    return ran


def _loop(stop: threading.Event, tick: float) -> None:
    # A first pass soon after start-up, then every tick; the jitter keeps many
    # workers started together from all asking the database at the same instant.
    stop.wait(min(tick, 5.0) * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
    while not stop.is_set():
        close_old_connections()
        try:
            ran = run_due_jobs()
            if ran:
                logger.info("scheduled jobs run: %s", ", ".join(ran))
        except Exception:
            logger.exception("the scheduler could not read its jobs; trying again next tick")
        finally:
            close_old_connections()
        stop.wait(tick * random.uniform(0.9, 1.1))  # noqa: S311 - jitter


def start_scheduler(*, tick: float | None = None) -> threading.Event | None:
    """Starts this process's scheduler thread (once); returns the event that stops it.

    Nothing starts when ``SCHEDULER_ENABLED`` is off (tests, or a deployment
    that prefers its own cron and ``manage scheduled_jobs --run NAME``).
    """
    if not settings.SCHEDULER_ENABLED or _started.is_set():
        return None
    configured_jobs()  # a mistake in the setting fails at start-up, not in a thread
    _started.set()
    stop = threading.Event()
    threading.Thread(
        target=_loop,
        args=(stop, tick or settings.SCHEDULER_TICK_SECONDS),
        name="scheduler",
        daemon=True,
    ).start()
    logger.info("Scheduler started (%d jobs).", len(configured_jobs()))
    return stop
