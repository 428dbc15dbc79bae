"""Background work of the email channel. Each task takes IDs and is safe to run twice."""

from __future__ import annotations

from django_tasks import task

from concierge.mail import actions


@task()
def process_inbound_message(message_id: int) -> None:
    """Turns a stored inbound message into a ticket or entry (or a quarantine item)."""
    actions.process_inbound_message(message_id=message_id)
