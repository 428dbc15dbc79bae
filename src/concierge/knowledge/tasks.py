"""Background work of the knowledge base. Takes IDs; safe to run twice."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="long")  # minutes of work: see settings.TASK_QUEUES
def run_help_center_import(import_id: int) -> None:
    """Runs an import an admin started on the workspace's import page."""
    from concierge.knowledge.imports import run_import

    run_import(import_id)


@task()
def email_help_followers(article_id: int, new: bool) -> None:
    """Emails an article's followers (and, for a newly published one, its section's)."""
    from concierge.knowledge.actions import email_followers

    email_followers(article_id=article_id, new=new)


@task()
def email_article_flag(flag_id: int, keeper_id: int) -> None:
    """Emails the keeper of a flagged article (its owner, or its last editor)."""
    from concierge.knowledge.actions import email_flag

    email_flag(flag_id=flag_id, keeper_id=keeper_id)
