"""``Idempotency-Key`` on create requests: a retried request gets the first answer.

A client that timed out cannot know whether its ticket was created; sending
the same key again returns the stored response instead of a duplicate. The
record is written in the same transaction as the thing it created, so a
concurrent retry either sees it or collides on the unique constraint and
rolls back its own work. Only successful responses are stored: a request
that failed changed nothing, and may be retried with a corrected body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from concierge.api.auth import current_user
from concierge.core.errors import ConciergeError, ValidationFailed
from concierge.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_MAX_CHARS = 255
# Keys are remembered for a day, long enough for any client's retries; older
# records are deleted as new ones are written, so the table stays small.
RETENTION = timedelta(hours=24)

HEADER_DESCRIPTION = (
    "Optional. A unique string (at most 255 characters) per create request; retrying with "
    "the same key within 24 hours returns the first response instead of creating twice. "
    "The same key with a different body answers 422 `idempotency_key_reused`."
)


class IdempotencyKeyReused(ConciergeError):
    code = "idempotency_key_reused"
    status = 422


Creator = Callable[[], tuple[int, dict[str, Any] | list[Any]]]


def _fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> JsonResponse:
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            field_errors={HEADER: ["Already used with a different body."]},
        )
    response = JsonResponse(record.response_body, status=record.status_code, safe=False)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent_create(request: HttpRequest, *, payload: Any, create: Creator) -> JsonResponse:
    """Runs ``create`` once per (user, key, endpoint); returns its (status, body) as JSON."""
    key = request.headers.get(HEADER)
    if key is None:
        # Atomic all the same: a create that resolves references first (say, a
        # requester by email) and is then refused must leave nothing behind.
        with transaction.atomic():
            status, body = create()
        return JsonResponse(body, status=status, safe=False)
    key = key.strip()
    if not key or len(key) > KEY_MAX_CHARS:
        raise ValidationFailed(
            f"{HEADER} must be 1 to {KEY_MAX_CHARS} characters.",
            field_errors={HEADER: [f"1 to {KEY_MAX_CHARS} characters."]},
        )
    user = current_user(request)
    endpoint = f"{request.method} {request.path}"[:255]
    fingerprint = _fingerprint(payload)
    cutoff = timezone.now() - RETENTION
    lookup = IdempotencyRecord.objects.filter(
        user=user, key=key, endpoint=endpoint, created_at__gte=cutoff
    )
    if (record := lookup.first()) is not None:
        return _replay(record, fingerprint)
    try:
        with transaction.atomic():
            status, body = create()
            if 200 <= status < 300:
                IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
                IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    endpoint=endpoint,
                    request_fingerprint=fingerprint,
                    status_code=status,
                    response_body=body,
                )
    except IntegrityError:
        # A concurrent request with this key committed first; ours rolled back.
        if (record := lookup.first()) is None:
            raise
        return _replay(record, fingerprint)
    return JsonResponse(body, status=status, safe=False)
