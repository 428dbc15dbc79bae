"""Background work of the email channel. Each task takes IDs and is safe to run twice."""

from __future__ import annotations

from django_tasks import task

from concierge.mail import actions


@task()
def process_inbound_message(message_id: int) -> None:
    """Turns a stored inbound message into a ticket or entry (or a quarantine item)."""
    actions.process_inbound_message(message_id=message_id)


@task()
def send_outbound_message(outbound_id: int) -> None:
    """Sends one queued email; a failure schedules the next attempt (bounded, with backoff)."""
    actions.deliver_outbound(outbound_id=outbound_id)


@task()
def send_acknowledgement(entry_id: int) -> None:
    """Queues the acknowledgement of a new request when the mailbox and loop rules allow it."""
    actions.queue_acknowledgement(entry_id=entry_id)
