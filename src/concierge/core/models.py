"""Shared kernel models: mixins every domain uses, tags and idempotency records."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TimestampedModel(models.Model):
    """Adds created / updated times (UTC, set by the database layer)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Tag(models.Model):
    """A label shared by tickets and customers; stored lower-case so filters match."""

    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IdempotencyRecord(models.Model):
    """The first response to a create request sent with an ``Idempotency-Key``.

    A client that retries after a timeout gets the same result instead of a
    duplicate ticket.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key", "endpoint"], name="unique_idempotency_key_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class RealtimeEvent(models.Model):
    """One event sent to live sockets, kept so a reconnecting client can catch up.

    The primary key is the event id clients resume from ("send me every
    event after N"); rows are written in the same transaction as the change
    they describe, so an event exists only if the change committed. Old rows
    are deleted after ``REALTIME_EVENT_RETENTION_DAYS`` (see the
    ``prune_realtime_events`` command): a client away longer than that
    reloads its page instead of replaying.
    """

    id = models.BigAutoField(primary_key=True)
    stream = models.CharField(max_length=200)
    kind = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["stream", "id"], name="realtime_event_stream_id")]

    def __str__(self) -> str:
        return f"#{self.id} {self.stream} {self.kind}"

    def as_message(self) -> dict[str, object]:
        """What a client receives: {"id", "stream", "kind", "data"}."""
        return {"id": self.id, "stream": self.stream, "kind": self.kind, "data": self.data}


class AgentPresence(models.Model):
    """Whether a staff member is at their desk right now, as teammates and routing see it.

    The agent's own choice stays in ``User.availability`` (online, away,
    offline); this row adds what the sockets observe: ``last_seen_at`` (an
    open workspace tab's heartbeat) and ``last_active_at`` (the last key press
    or click there). ``status`` is the effective presence last announced on
    the ``presence`` stream; ``concierge.core.presence`` computes it:
    no tab open -> offline, idle -> away, else the agent's choice.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    status = models.CharField(max_length=10, default="offline", db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"


class ScheduledJob(models.Model):
    """The last run of one periodic job (``settings.SCHEDULED_JOBS``, ``core.scheduler``).

    The row is also the lock that makes a job run once per interval however
    many workers (and machines) look at the schedule: a worker runs a job
    only after moving ``last_started_at`` forward with a conditional UPDATE,
    which exactly one of them wins.
    """

    name = models.CharField(max_length=64, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=300, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
