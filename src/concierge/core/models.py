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
