"""Minutes-long work waits on its own queue: a retrain or an import never holds up triage."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from concierge.ai.tasks import retrain_triage_model
from concierge.knowledge.tasks import run_help_center_import
from concierge.search.tasks import index_objects
from concierge.tickets.tasks import notify_customer_of_reply


def test_long_work_goes_to_the_long_queue_and_the_rest_to_the_quick_one() -> None:
    assert settings.TASK_QUEUES == ["default", "long"]
    assert retrain_triage_model.queue_name == run_help_center_import.queue_name == "long"
    assert index_objects.queue_name == notify_customer_of_reply.queue_name == "default"


@pytest.mark.django_db(transaction=True)
def test_a_worker_of_the_quick_queue_never_picks_up_long_work(settings: Any) -> None:
    """The embedded server runs one such worker per queue (core.worker)."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}
    }
    quick = index_objects.enqueue("article", [])
    long = run_help_center_import.enqueue(0)  # no such import: it ends at once

    def work(queue: str) -> None:
        Worker(
            queue_names=[queue], interval=0.1, batch=True, backend_name="default",
            startup_delay=False, max_tasks=None, worker_id=f"test-{queue}",
            excluded_queue_names=[],
        ).run()  # fmt: skip

    def status(result: Any) -> str:
        return str(DBTaskResult.objects.get(pk=result.id).status)

    work("default")
    assert (status(quick), status(long)) == ("SUCCESSFUL", "READY")
    work("long")
    assert status(long) == "SUCCESSFUL"
