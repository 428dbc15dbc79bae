"""Work that must happen only after the database commit: events and tasks.

Sending an event or enqueueing a task inside an open transaction would let a
listener see (or act on) data that a rollback then removes; so every write
action queues its side effects here, and they run once the commit succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def on_commit(callback: Callable[[], Any]) -> None:
    """Runs ``callback`` after the current transaction commits (at once when none is open)."""
    transaction.on_commit(callback, robust=True)


def enqueue_after_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueues a django-tasks ``task`` with ID arguments once the commit succeeded."""
    on_commit(lambda: task.enqueue(*args, **kwargs))
