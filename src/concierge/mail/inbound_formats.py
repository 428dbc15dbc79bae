"""What mail providers POST to us, turned into the one thing processing consumes: raw bytes.

Every inbound path ends as an RFC 5322 message stored raw, so one parser,
one threading and one idempotency rule serve IMAP, SMTP, raw HTTP and the
provider webhooks alike. Provider payloads that are already parsed (Mailgun's
"forward" fields, Postmark's JSON) are rebuilt into a MIME message keeping
every header they pass along — Message-ID, In-Reply-To, References,
Auto-Submitted, X-Spam-* — because threading and loop detection read those.

Formats, as documented by the providers:

* Mailgun routes (``forward()`` and ``store(notify=...)``): form fields
  ``sender``, ``recipient``, ``from``, ``subject``, ``body-plain``,
  ``body-html``, ``stripped-text``, ``message-headers`` (a JSON list of
  ``[name, value]``), ``attachment-count`` with files ``attachment-1`` ...,
  ``content-id-map``; or ``body-mime`` (the raw message) when the route URL
  ends in ``mime``. Requests are signed: ``signature`` is the hex
  HMAC-SHA256 of ``timestamp`` + ``token`` under the account's signing key.
* Postmark's inbound webhook: JSON with ``FromFull``, ``ToFull``, ``CcFull``,
  ``Subject``, ``Date``, ``ReplyTo``, ``MessageID`` (Postmark's own id),
  ``TextBody``, ``HtmlBody``, ``StrippedTextReply``, ``Headers`` (a list of
  ``{Name, Value}``) and ``Attachments`` (``{Name, Content`` base64,
  ``ContentType, ContentLength, ContentID}``); ``RawEmail`` when the
  server has "include raw email content" on. Postmark does not sign
  requests: the endpoint is authenticated by the mailbox's inbound secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from concierge.core.errors import ValidationFailed

MAILGUN_MAX_AGE_SECONDS = 15 * 60
STRUCTURAL_HEADERS = {
    "content-type", "content-transfer-encoding", "mime-version", "content-disposition",
    "content-length", "content-id",
}  # fmt: skip


@dataclass(frozen=True)
class InboundEnvelope:
    """A message as received: raw RFC 5322 bytes plus the SMTP envelope when known."""

    raw: bytes
    source: str
    recipient: str = ""
    sender: str = ""


@dataclass(frozen=True)
class _Attachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""


def from_raw(raw: bytes, *, source: str = "http", recipient: str = "") -> InboundEnvelope:
    """A raw RFC 5322 message (HTTP endpoint, SMTP/LMTP receiver, IMAP)."""
    return InboundEnvelope(raw=raw, source=source, recipient=recipient)


# --- Mailgun ------------------------------------------------------------------------


def verify_mailgun_signature(
    *,
    signing_key: str,
    timestamp: str,
    token: str,
    signature: str,
    now: float | None = None,
    max_age_seconds: int = MAILGUN_MAX_AGE_SECONDS,
) -> bool:
    """Checks Mailgun's webhook signature and that the timestamp is recent.

    A replayed request (same token) is not rejected here: it can only
    deliver the same message again, which receiving deduplicates by
    Message-ID, while rejecting Mailgun's own retries would lose mail.
    """
    if not (signing_key and timestamp and token and signature):
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent_at) > max_age_seconds:
        return False
    expected = hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def _field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _read_file(value: Any) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of an uploaded file or raw bytes."""
    if isinstance(value, bytes | bytearray):
        return "", "", bytes(value)
    data = value.read()
    name = str(getattr(value, "name", "") or "")
    content_type = str(getattr(value, "content_type", "") or "")
    return name.rpartition("/")[2], content_type, data if isinstance(data, bytes) else b""


def from_mailgun(fields: Mapping[str, Any], files: Mapping[str, Any]) -> InboundEnvelope:
    """A Mailgun route POST (raw MIME or parsed fields) as raw bytes."""
    recipient, sender = _field(fields, "recipient"), _field(fields, "sender")
    mime = fields.get("body-mime") or files.get("body-mime")
    if mime:
        raw = _read_file(mime)[2] if not isinstance(mime, str) else mime.encode("utf-8")
        return InboundEnvelope(raw=raw, source="mailgun", recipient=recipient, sender=sender)

    headers: list[tuple[str, str]] = []
    if message_headers := _field(fields, "message-headers"):
        try:
            decoded = json.loads(message_headers)
        except ValueError as error:
            raise ValidationFailed("message-headers is not valid JSON.") from error
        headers = [(str(pair[0]), str(pair[1])) for pair in decoded if len(pair) == 2]
    names = {name.lower() for name, _ in headers}
    for name, key in (("From", "from"), ("Subject", "subject"), ("To", "To")):
        if name.lower() not in names and (value := _field(fields, key) or _field(fields, name)):
            headers.append((name, value))
    if "to" not in {name.lower() for name, _ in headers} and recipient:
        headers.append(("To", recipient))

    content_ids: dict[str, str] = {}
    if content_id_map := _field(fields, "content-id-map"):
        try:
            content_ids = {
                str(file_field): str(cid).strip("<>")
                for cid, file_field in json.loads(content_id_map).items()
            }
        except (ValueError, AttributeError):
            content_ids = {}
    attachments: list[_Attachment] = []
    try:
        count = int(_field(fields, "attachment-count") or 0)
    except ValueError:
        count = 0
    for index in range(1, min(count, 100) + 1):
        key = f"attachment-{index}"
        if key in files:
            name, content_type, data = _read_file(files[key])
            attachments.append(
                _Attachment(name or key, content_type, data, content_ids.get(key, ""))
            )
    text = _field(fields, "body-plain")
    if stored := _field(fields, "attachments"):
        # store(notify=...) lists attachments as URLs on Mailgun's storage; they
        # are not fetched here, so the entry at least says they existed.
        try:
            listed = json.loads(stored)
        except ValueError:
            listed = []
        kept = [f"{item.get('name', 'file')} ({item.get('size', '?')} bytes)" for item in listed]
        if kept:
            text += "\n\n[Attachments kept at Mailgun, not imported: " + ", ".join(kept) + "]"
    body_html = fields.get("body-html")
    html = (
        "\n".join(str(part) for part in body_html)
        if isinstance(body_html, list | tuple)
        else str(body_html or "")
    )
    raw = _build_message(headers, text=text, html=html, attachments=attachments)
    return InboundEnvelope(raw=raw, source="mailgun", recipient=recipient, sender=sender)


# --- Postmark -----------------------------------------------------------------------


def _postmark_addresses(entries: Any) -> str:
    if not isinstance(entries, list):
        return ""
    return ", ".join(
        formataddr((str(item.get("Name") or ""), str(item.get("Email") or "")))
        for item in entries
        if isinstance(item, dict) and item.get("Email")
    )


def from_postmark(payload: Mapping[str, Any]) -> InboundEnvelope:
    """A Postmark inbound webhook body (parsed JSON) as raw bytes."""
    if not isinstance(payload, Mapping):
        raise ValidationFailed("The Postmark payload must be a JSON object.")
    recipient = str(payload.get("OriginalRecipient") or "")
    if raw_email := payload.get("RawEmail"):
        return InboundEnvelope(
            raw=str(raw_email).encode("utf-8"), source="postmark", recipient=recipient
        )
    sender = payload.get("FromFull") or {}
    headers: list[tuple[str, str]] = []
    if isinstance(sender, dict) and sender.get("Email"):
        headers.append(("From", formataddr((str(sender.get("Name") or ""), str(sender["Email"])))))
    elif payload.get("From"):
        headers.append(("From", str(payload["From"])))
    if to := _postmark_addresses(payload.get("ToFull")) or str(payload.get("To") or ""):
        headers.append(("To", to))
    if cc := _postmark_addresses(payload.get("CcFull")) or str(payload.get("Cc") or ""):
        headers.append(("Cc", cc))
    for name, key in (("Subject", "Subject"), ("Date", "Date"), ("Reply-To", "ReplyTo")):
        if payload.get(key):
            headers.append((name, str(payload[key])))
    typed = {name.lower() for name, _ in headers}
    extra = payload.get("Headers") or []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict) and item.get("Name"):
            name = str(item["Name"])
            if name.lower() not in typed:
                headers.append((name, str(item.get("Value") or "")))
    if "message-id" not in {name.lower() for name, _ in headers} and payload.get("MessageID"):
        # Postmark's own id is unique per inbound message: good enough to dedupe retries.
        headers.append(("Message-ID", f"<{payload['MessageID']}@inbound.postmarkapp.com>"))
    attachments: list[_Attachment] = []
    listed = payload.get("Attachments") or []
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            data = base64.b64decode(str(item.get("Content") or ""), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationFailed(
                f"Attachment {item.get('Name')!r} is not valid base64."
            ) from error
        attachments.append(
            _Attachment(
                filename=str(item.get("Name") or "attachment"),
                content_type=str(item.get("ContentType") or "application/octet-stream"),
                content=data,
                content_id=str(item.get("ContentID") or "").strip("<>"),
            )
        )
    raw = _build_message(
        headers,
        text=str(payload.get("TextBody") or ""),
        html=str(payload.get("HtmlBody") or ""),
        attachments=attachments,
    )
    return InboundEnvelope(raw=raw, source="postmark", recipient=recipient)


# --- building -----------------------------------------------------------------------


def _build_message(
    headers: Sequence[tuple[str, str]],
    *,
    text: str,
    html: str,
    attachments: Sequence[_Attachment],
) -> bytes:
    message = EmailMessage(policy=policy.default)
    for name, value in headers:
        if name.lower() in STRUCTURAL_HEADERS:
            continue
        try:
            message[name] = value
        except (ValueError, TypeError, IndexError, AttributeError):
            # Duplicates of single-use headers and malformed values are dropped;
            # the typed fields the provider sent already cover what matters.
            continue
    if text or not html:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = (attachment.content_type or "application/octet-stream").partition(
            "/"
        )
        message.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
            disposition="inline" if attachment.content_id else "attachment",
            cid=f"<{attachment.content_id}>" if attachment.content_id else None,
        )
    return message.as_bytes()
