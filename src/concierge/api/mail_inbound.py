"""HTTP inbound mail: a raw RFC 5322 message, or a Mailgun / Postmark webhook, per mailbox.

These routes are called by mail servers and providers, not by people: they
take no user token or session (and so no CSRF token). Every post carries the
mailbox's inbound secret, as the header ``X-Concierge-Mailbox-Secret`` or as
the password of HTTP basic auth (Postmark and Mailgun put credentials in the
webhook URL: ``https://inbound:<secret>@desk.example/...``); Mailgun posts
must in addition be signed with the mailbox's Mailgun signing key. Bodies
are read with our own limit (a raw message may be 25 MB, over the
API's general 5 MB), and a larger one gets a clear 413.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.parser import BytesHeaderParser
from typing import Any
from urllib.parse import parse_qs

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, JsonResponse
from ninja import Header, Router
from ninja.security import APIKeyHeader, HttpBasicAuth

from concierge.api.errors import error_response
from concierge.core.errors import ConciergeError
from concierge.mail.actions import receive_http_message
from concierge.mail.models import RAW_MESSAGE_MAX_BYTES, InboundMessage

SECRET_HEADER = "X-Concierge-Mailbox-Secret"  # noqa: S105 - a header name


@dataclass(frozen=True)
class MailboxSecret:
    """What the caller sent as the mailbox secret (possibly nothing): the action judges it."""

    value: str


class MailboxSecretHeader(APIKeyHeader):
    """The mailbox's inbound secret in a header, or as the basic-auth password.

    It never refuses by itself: a missing secret is judged with a wrong one by
    the action (403, nothing stored), so the answer does not depend on which
    credential a caller tried and no user token or session can stand in.
    """

    param_name = SECRET_HEADER

    def __call__(self, request: HttpRequest) -> Any:
        secret = request.headers.get(SECRET_HEADER, "")
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if not secret and scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            secret = decoded.partition(":")[2]
        return MailboxSecret(secret.strip())

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return MailboxSecret(key or "")


class MailboxSecretBasic(HttpBasicAuth):
    """Documents the basic-auth form (the header class above already reads it)."""

    def authenticate(self, request: HttpRequest, username: str, password: str) -> Any:
        return MailboxSecret(password)


router = Router(tags=["mail inbound"], auth=[MailboxSecretHeader(), MailboxSecretBasic()])
IdempotencyKey = Header(
    None,
    alias="Idempotency-Key",
    description=(
        "Accepted for uniformity and not needed: the same message (same Message-ID, or the "
        "same bytes without one) posted again to a mailbox is stored once."
    ),
)
# Provider payloads carry attachments base64-encoded (4/3 of their size) plus fields.
PROVIDER_MAX_BYTES = RAW_MESSAGE_MAX_BYTES * 4 // 3 + 1024 * 1024


class BodyTooLarge(Exception):
    pass


def _read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes (declared or actually sent)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _too_large(limit: int) -> JsonResponse:
    return error_response(
        413, "limit_exceeded", f"The request body is over the {limit // (1024 * 1024)} MB limit."
    )


def _secret(request: HttpRequest) -> str:
    """The secret the auth classes above found (header or basic-auth password)."""
    found = getattr(request, "auth", None)
    return found.value if isinstance(found, MailboxSecret) else ""


def _accepted(message: InboundMessage) -> JsonResponse:
    return JsonResponse(
        {"id": message.pk, "status": message.status, "message_id": message.message_id},
        status=202,
    )


def _receive(
    request: HttpRequest, mailbox_id: int, provider: str, payload: Any, files: Any = None
) -> JsonResponse:
    try:
        message = receive_http_message(
            mailbox_id=mailbox_id,
            secret=_secret(request),
            provider=provider,
            payload=payload,
            files=files,
        )
    except ConciergeError as error:
        return JsonResponse(error.as_dict(), status=error.status)
    return _accepted(message)


@router.post("/{mailbox_id}/raw", response={202: dict})
def receive_raw(
    request: HttpRequest, mailbox_id: int, idempotency_key: str | None = IdempotencyKey
) -> Any:
    """A raw RFC 5322 message as the request body (``Content-Type: message/rfc822``)."""
    try:
        body = _read_body(request, RAW_MESSAGE_MAX_BYTES)
    except BodyTooLarge:
        return _too_large(RAW_MESSAGE_MAX_BYTES)
    return _receive(request, mailbox_id, "http", body)


@router.post("/{mailbox_id}/postmark", response={202: dict})
def receive_postmark(
    request: HttpRequest, mailbox_id: int, idempotency_key: str | None = IdempotencyKey
) -> Any:
    """Postmark's inbound webhook (JSON)."""
    try:
        body = _read_body(request, PROVIDER_MAX_BYTES)
    except BodyTooLarge:
        return _too_large(PROVIDER_MAX_BYTES)
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        payload = None  # refused as "not a JSON object" once the secret is checked
    return _receive(request, mailbox_id, "postmark", payload)


@router.post("/{mailbox_id}/mailgun", response={202: dict})
def receive_mailgun(
    request: HttpRequest, mailbox_id: int, idempotency_key: str | None = IdempotencyKey
) -> Any:
    """A Mailgun route's POST (form fields and files, or ``body-mime``), signed by Mailgun."""
    try:
        body = _read_body(request, PROVIDER_MAX_BYTES)
    except BodyTooLarge:
        return _too_large(PROVIDER_MAX_BYTES)
    fields, files = _form(request.META.get("CONTENT_TYPE", ""), body)
    return _receive(request, mailbox_id, "mailgun", fields, files)


def _form(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Form fields and files of an urlencoded or multipart body, read within our own limit.

    Django's form parser would apply the site-wide 5 MB limit to a raw
    ``body-mime`` field; this reads the multipart body we already bounded,
    keeping each part's bytes exactly as sent (a message/rfc822 part too).
    """
    header = message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n")
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        query = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {key: values[0] if len(values) == 1 else values for key, values in query.items()}, {}
    fields: dict[str, Any] = {}
    files: dict[str, Any] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        part = BytesHeaderParser(policy=policy.HTTP).parsebytes(head + b"\r\n\r\n")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is not None:
            files[name] = SimpleUploadedFile(
                filename, data, part.get_content_type() or "application/octet-stream"
            )
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8", errors="replace")
    return fields, files
