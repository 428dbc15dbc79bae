"""Background work for triage: the scheduled retrain. IDs (none here) in, safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import task

logger = logging.getLogger(__name__)


@task(queue_name="long")  # minutes of work: see settings.TASK_QUEUES
def retrain_triage_model(job_id: str = "") -> dict[str, Any]:
    """Retrains the intent classifier on the agents' labels; the validation gate decides.

    Enqueued by an admin ("Retrain now", ``POST /api/v1/triage/retrain``: with
    the ``job_id`` of the request it serves), after enough new corrections
    (``TRIAGE_RETRAIN_EVERY_LABELS``) and nightly by ``./concierge manage
    retrain_triage`` from cron. The same request's task run twice trains once;
    other runs train again, and a candidate is promoted only if it validates
    at least as well, so nothing gets worse.
    """
    from concierge.ai import actions

    if not actions.should_run_retrain(job_id):
        logger.info("triage retrain %s already ran; not training again", job_id)
        return dict(actions.retrain_status().get("outcome") or {})
    actions.record_retrain_status("running", job_id=job_id)
    try:
        outcome = actions.retrain(actor=None)
    except Exception as error:
        # The admin page and the API show the failure; the worker's log has the traceback.
        actions.record_retrain_status("failed", error=str(error)[:300] or type(error).__name__)
        raise
    actions.record_retrain_status("done", outcome=outcome)
    logger.info("scheduled triage retrain: %s", outcome)
    return outcome
