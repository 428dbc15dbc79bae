"""Background indexing. Takes kinds and IDs; safe to run twice (indexing is an upsert)."""

from __future__ import annotations

from django_tasks import task


@task()
def index_objects(kind: str, object_ids: list[int]) -> None:
    """Re-reads the objects from their source and updates (or removes) their index rows."""
    from concierge.search.actions import index_now

    index_now(kind=kind, object_ids=object_ids)
