"""Background work for triage: the scheduled retrain. IDs (none here) in, safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def retrain_triage_model() -> dict[str, Any]:
    """Retrains the intent classifier on the agents' labels; the validation gate decides.

    Enqueued after enough new corrections (``TRIAGE_RETRAIN_EVERY_LABELS``) and
    run nightly by ``./concierge manage retrain_triage`` from cron. Running it
    twice trains twice; the second candidate is promoted only if it validates
    at least as well, so nothing gets worse.
    """
    from concierge.ai import actions

    actions.record_retrain_status("running")
    try:
        outcome = actions.retrain(actor=None)
    except Exception as error:
        # The admin page shows the failure; the worker's log has the traceback.
        actions.record_retrain_status("failed", error=str(error)[:300])
        raise
    actions.record_retrain_status("done", outcome=outcome)
    logger.info("scheduled triage retrain: %s", outcome)
    return outcome
