"""Every write of the email channel: receive, process, quarantine, mailboxes.

Receiving and processing are two steps. ``receive_raw_message`` stores the
raw bytes and a row, and enqueues processing after the commit; nothing can
fail there but storage itself. ``process_inbound_message`` then locks the
row, checks it is still unprocessed and turns it into a ticket or entry in
one transaction; if anything raises, that transaction rolls back and the
row is marked quarantined with the error, the raw message untouched, for
an admin to re-process or discard. Running it twice does nothing the second
time, so a retried task or a crashed worker never duplicates an entry.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from concierge.accounts.models import STAFF_ROLES, User
from concierge.core import policy
from concierge.core.errors import Conflict, LimitExceeded, ValidationFailed
from concierge.core.events import enqueue_after_commit, on_commit
from concierge.customers.actions import find_or_create_customer_by_email
from concierge.customers.models import Customer
from concierge.mail import inbound_formats, outbound
from concierge.mail.loops import (
    automation_verdict,
    is_delivery_report,
    may_auto_reply,
    parse_delivery_report,
    spam_verdict,
)
from concierge.mail.models import (
    RAW_MESSAGE_MAX_BYTES,
    Direction,
    InboundMessage,
    InboundSource,
    InboundStatus,
    Mailbox,
    MessageRecord,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    generate_inbound_secret,
)
from concierge.mail.parsing import ParsedMessage, display_html, parse_headers_only, parse_message
from concierge.mail.replies import as_markdown_text, extract_reply
from concierge.mail.services import is_own_address, own_addresses, raw_bytes
from concierge.mail.threading import find_ticket, same_message_elsewhere
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import SPAM_TAG, Channel, Entry, EntryKind, Status, Ticket

logger = logging.getLogger(__name__)

MAX_NEW_CCS = 20
QUOTED_TEXT_MAX_CHARS = 50_000
HTML_METADATA_MAX_CHARS = 200_000
ATTACHMENT_URL = "/attachments/{id}/"  # the workspace's download view
RATE_WINDOW = timedelta(hours=1)


# --- receiving -------------------------------------------------------------------


def receive_raw_message(*, mailbox: Mailbox, raw: bytes, source: str) -> InboundMessage:
    """Stores a raw RFC 5322 message, then enqueues its processing once committed.

    The same message delivered twice (same Message-ID on this mailbox, or
    the same bytes when it has none) returns the first row and adds nothing.
    """
    if source not in InboundSource.values:
        raise ValidationFailed(f"Unknown source {source!r}.")
    if len(raw) > RAW_MESSAGE_MAX_BYTES:
        raise LimitExceeded(
            f"The message is {len(raw) / (1024 * 1024):.1f} MB; messages over "
            f"{RAW_MESSAGE_MAX_BYTES // (1024 * 1024)} MB are refused."
        )
    if not raw.strip():
        raise ValidationFailed("The message is empty.")
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        headers = parse_headers_only(raw)
    except Exception:  # a header block we cannot read is processed (and quarantined) later
        headers = ParsedMessage()
    message_id = headers.message_id
    if existing := _existing(mailbox, message_id, sha256):
        return _requeue_if_pending(existing)
    message = InboundMessage(
        mailbox=mailbox,
        source=source,
        raw_size=len(raw),
        sha256=sha256,
        message_id=message_id,
        sender=headers.from_address[:320],
        subject=headers.subject[:255],
    )
    # The file first, then the row: a row never exists without its raw message.
    message.raw.save("message.eml", ContentFile(raw), save=False)
    try:
        with transaction.atomic():
            message.save()
            _enqueue_processing(message.pk)
    except IntegrityError:
        # The same message arrived concurrently through another connection.
        message.raw.delete(save=False)
        existing = _existing(mailbox, message_id, sha256)
        if existing is None:
            raise
        return existing
    return message


def _existing(mailbox: Mailbox, message_id: str, sha256: str) -> InboundMessage | None:
    found = InboundMessage.objects.filter(mailbox=mailbox)
    if message_id:
        return found.filter(message_id=message_id).first()
    return found.filter(message_id="", sha256=sha256).first()


def _requeue_if_pending(message: InboundMessage) -> InboundMessage:
    # A row still "received" may have lost its task in a crash: queue it again
    # (processing is idempotent, so a duplicate task is harmless).
    if message.status == InboundStatus.RECEIVED:
        _enqueue_processing(message.pk)
    return message


def _enqueue_processing(message_id: int) -> None:
    from concierge.mail import tasks

    enqueue_after_commit(tasks.process_inbound_message, message_id)


def receive_provider_payload(
    *,
    mailbox: Mailbox,
    provider: str,
    payload: Any,
    files: Any = None,
) -> InboundMessage:
    """Receives a webhook from a mail provider ("mailgun" or "postmark") or a raw HTTP POST.

    Mailgun requests must carry a valid signature for the mailbox's signing
    key; Postmark and raw posts are authenticated by the interface (the
    mailbox's inbound secret) before this is called.
    """
    if provider == InboundSource.MAILGUN:
        if not mailbox.mailgun_signing_key:
            raise policy.PermissionDenied("This mailbox has no Mailgun signing key configured.")
        if not inbound_formats.verify_mailgun_signature(
            signing_key=mailbox.mailgun_signing_key,
            timestamp=str(payload.get("timestamp", "")),
            token=str(payload.get("token", "")),
            signature=str(payload.get("signature", "")),
        ):
            raise policy.PermissionDenied("The Mailgun signature is not valid.")
        envelope = inbound_formats.from_mailgun(payload, files or {})
    elif provider == InboundSource.POSTMARK:
        envelope = inbound_formats.from_postmark(payload)
    elif provider == InboundSource.HTTP:
        envelope = inbound_formats.from_raw(bytes(payload))
    else:
        raise ValidationFailed(f"Unknown provider {provider!r}.")
    return receive_raw_message(mailbox=mailbox, raw=envelope.raw, source=envelope.source)


# --- processing --------------------------------------------------------------------


@dataclass
class _Content:
    body: str
    metadata: dict[str, Any]
    attachments: list[ticket_actions.NewAttachment] = field(default_factory=list)
    content_ids: list[str] = field(default_factory=list)  # parallel to attachments


def process_inbound_message(*, message_id: int) -> InboundMessage | None:
    """Turns a received message into a ticket or entry; quarantines it when that fails.

    Safe to call any number of times: only a message still "received" is processed.
    """
    try:
        with transaction.atomic():
            message = (
                InboundMessage.objects.select_for_update(of=("self",))
                .select_related("mailbox")
                .filter(pk=message_id)
                .first()
            )
            if message is None or message.status != InboundStatus.RECEIVED:
                return message
            _process(message)
            message.attempts += 1
            message.processed_at = timezone.now()
            message.save()
            return message
    except Exception as error:  # every failure becomes a quarantine item, never a lost message
        logger.warning("inbound message %s quarantined", message_id, exc_info=True)
        return _quarantine(message_id, error)


def _quarantine(message_id: int, error: BaseException) -> InboundMessage | None:
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != InboundStatus.RECEIVED:
            return message
        detail = getattr(error, "message", None) or str(error)
        message.status = InboundStatus.QUARANTINED
        message.error = f"{type(error).__name__}: {detail}"[:5000]
        message.attempts += 1
        message.processed_at = timezone.now()
        message.save()
        return message


def _finish(message: InboundMessage, status: str, reason: str = "") -> None:
    message.status = status
    message.error = reason


def _process(message: InboundMessage) -> None:
    mailbox = message.mailbox
    parsed = parse_message(raw_bytes(message))
    own = own_addresses()
    sender = parsed.from_address
    if is_delivery_report(parsed):
        _handle_bounce(message, parsed)
        return
    if not sender:
        raise ValidationFailed("The message has no readable From address.")
    if is_own_address(sender, own):
        _finish(message, InboundStatus.IGNORED, f"Sent from our own address {sender} (loop).")
        return
    recent = (
        InboundMessage.objects.filter(
            mailbox=mailbox, sender=sender, received_at__gte=timezone.now() - RATE_WINDOW
        )
        .exclude(pk=message.pk)
        .count()
    )
    if recent >= mailbox.max_messages_per_sender_per_hour:
        _finish(
            message,
            InboundStatus.IGNORED,
            f"Rate limit: {recent} messages from {sender} in the last hour "
            f"(limit {mailbox.max_messages_per_sender_per_hour}); likely a mail loop.",
        )
        return
    if duplicate := same_message_elsewhere(parsed, mailbox):
        # The same mail sent to two of our addresses: one ticket, one entry.
        message.ticket_id, message.entry_id = duplicate.ticket_id, duplicate.entry_id
        _finish(message, InboundStatus.PROCESSED, "Already received through another mailbox.")
        return

    content = _content(message, parsed)
    match = find_ticket(parsed=parsed, mailbox=mailbox)
    agent = User.objects.filter(email__iexact=sender, role__in=STAFF_ROLES, is_active=True).first()
    if match is None:
        ticket, entry = _new_ticket(mailbox, parsed, content)
        if mailbox.acknowledge_new_requests and not content.metadata["is_spam"]:
            # The task re-checks loops (may_auto_reply) and the per-sender limit.
            from concierge.mail import tasks

            enqueue_after_commit(tasks.send_acknowledgement, entry.pk)
    else:
        content.metadata["threaded_by"] = match.method
        ticket, entry = _continue_ticket(mailbox, match.ticket, parsed, content, agent)
    _link_inline_images(entry, content, parsed)
    if parsed.message_id:
        MessageRecord.objects.get_or_create(
            mailbox=mailbox,
            message_id=parsed.message_id,
            defaults={"ticket": ticket, "entry": entry, "direction": Direction.INBOUND},
        )
    message.ticket, message.entry = ticket, entry
    _finish(message, InboundStatus.PROCESSED)


def _content(message: InboundMessage, parsed: ParsedMessage) -> _Content:
    mailbox = message.mailbox
    extracted = extract_reply(parsed.text)
    automation = automation_verdict(parsed)
    spam = spam_verdict(parsed, threshold=mailbox.spam_threshold)
    content = _Content(
        body="",
        metadata={
            "email": {
                "inbound_message_id": message.pk,
                "message_id": parsed.message_id,
                "from": parsed.from_address,
                "from_name": parsed.from_name,
                "to": [a.address for a in parsed.to][:50],
                "cc": [a.address for a in parsed.cc][:50],
                "subject": parsed.subject[:998],
                "date": parsed.date.isoformat() if parsed.date else None,
            },
            "quoted_text": extracted.quoted[:QUOTED_TEXT_MAX_CHARS],
            "signature": extracted.signature,
            "is_automated": automation.is_automated,
            "automation_reasons": list(automation.reasons),
            "is_spam": spam.is_spam,
            "spam_score": spam.score,
        },
    )
    if parsed.defects:
        content.metadata["parse_defects"] = parsed.defects[:20]
    notes = _collect_attachments(parsed, mailbox, content)
    body_limit = settings.ENTRY_BODY_MAX_CHARS - 2_000
    text = extracted.reply
    if len(text) > body_limit // 2:
        # Escaping can double the length; the full text stays in the raw message.
        text = text[: body_limit // 2] + "\n[… the message was shortened; the original is kept]"
    body = as_markdown_text(text) if text.strip() else "(no text)"
    if notes:
        body += "\n\n**Attachments not stored:**\n" + "\n".join(
            f"- {as_markdown_text(note)}" for note in notes
        )
    content.body = body
    return content


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, size // 1024)} KB"


def _collect_attachments(parsed: ParsedMessage, mailbox: Mailbox, content: _Content) -> list[str]:
    """Chooses the parts to store; the rest become notes with name, size and reason."""
    limit = min(mailbox.max_attachment_bytes, settings.ATTACHMENT_MAX_BYTES)
    notes: list[str] = []
    for part in parsed.attachments:
        filename = part.filename
        extension = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
        reason = ""
        if extension in ticket_actions.BLOCKED_EXTENSIONS:
            reason = f"files of type {extension} are not accepted"
        elif part.size > limit:
            reason = f"over the {_human_size(limit)} attachment limit"
        elif len(content.attachments) >= settings.ATTACHMENT_MAX_PER_ENTRY:
            reason = f"at most {settings.ATTACHMENT_MAX_PER_ENTRY} attachments per message"
        if reason:
            notes.append(f"{filename} ({_human_size(part.size)}): {reason}")
            continue
        content.attachments.append(
            ticket_actions.NewAttachment(
                filename=filename, content=part.content, content_type=part.content_type
            )
        )
        content.content_ids.append(part.content_id)
    if notes:
        content.metadata["skipped_attachments"] = notes
    return notes


def _customer(address: str, name: str) -> Customer:
    name = " ".join(name.split())[:200] or address.partition("@")[0] or address
    return find_or_create_customer_by_email(email=address, name=name)


def _new_participants(parsed: ParsedMessage, ticket: Ticket | None) -> list[Customer]:
    """Customers on To/Cc other than us, the sender and agents: they become CCs."""
    own = own_addresses()
    agents = {
        email.lower()
        for email in User.objects.filter(role__in=STAFF_ROLES).values_list("email", flat=True)
    }
    result: list[Customer] = []
    for address in parsed.recipients:
        email = address.address
        if email == parsed.from_address or email in agents or is_own_address(email, own):
            continue
        if len(result) >= MAX_NEW_CCS:
            break
        customer = _customer(email, address.name)
        if ticket is None or customer.pk != ticket.requester_id:
            result.append(customer)
    return result


def _subject(parsed: ParsedMessage) -> str:
    subject = " ".join(parsed.subject.split())
    return subject[: ticket_actions.SUBJECT_MAX_CHARS] or "(no subject)"


def _new_ticket(mailbox: Mailbox, parsed: ParsedMessage, content: _Content) -> tuple[Ticket, Entry]:
    requester = _customer(parsed.from_address, parsed.from_name)
    ticket = ticket_actions.create_ticket(
        actor=None,
        requester=requester,
        subject=_subject(parsed),
        body=content.body,
        channel=Channel.EMAIL,
        ccs=_new_participants(parsed, None),
        team=mailbox.default_team,
        tags=[SPAM_TAG] if content.metadata["is_spam"] else [],
        attachments=content.attachments,
        metadata=content.metadata,
    )
    return ticket, _first_entry(ticket)


def _first_entry(ticket: Ticket) -> Entry:
    """The message that opened ``ticket`` (create_ticket always writes one)."""
    return Entry.objects.filter(ticket=ticket, kind=EntryKind.PUBLIC_REPLY).order_by("id")[0]


def _continue_ticket(
    mailbox: Mailbox,
    ticket: Ticket,
    parsed: ParsedMessage,
    content: _Content,
    agent: User | None,
) -> tuple[Ticket, Entry]:
    if agent is not None:
        # Mail from an agent's address: an internal note by that agent, never a
        # public reply, because a From header can be forged.
        entry = ticket_actions.add_entry(
            actor=agent,
            ticket=ticket,
            body=content.body,
            kind=EntryKind.INTERNAL_NOTE,
            channel=Channel.EMAIL,
            attachments=content.attachments,
            metadata=content.metadata,
        )
        return ticket, entry
    author = _customer(parsed.from_address, parsed.from_name)
    reopen = mailbox.reopen_solved_on_reply
    if ticket.status == Status.CLOSED or (ticket.status == Status.SOLVED and not reopen):
        return _follow_up(mailbox, ticket, parsed, content, author)
    entry = ticket_actions.add_entry(
        actor=None,
        ticket=ticket,
        body=content.body,
        channel=Channel.EMAIL,
        attachments=content.attachments,
        metadata=content.metadata,
        author_customer=author,
    )
    _add_ccs(ticket, [author, *_new_participants(parsed, ticket)])
    if content.metadata["is_spam"]:
        ticket_actions.update_ticket(
            actor=None, ticket=ticket, changes={"add_tags": [SPAM_TAG]}, via=Channel.EMAIL
        )
    return ticket, entry


def _add_ccs(ticket: Ticket, customers: list[Customer]) -> None:
    current = list(ticket.ccs.all())
    known = {cc.pk for cc in current} | {ticket.requester_id}
    new = [c for c in customers if c.pk not in known]
    if new:
        ticket_actions.update_ticket(
            actor=None, ticket=ticket, changes={"ccs": [*current, *new]}, via=Channel.EMAIL
        )


def _follow_up(
    mailbox: Mailbox, ticket: Ticket, parsed: ParsedMessage, content: _Content, author: Customer
) -> tuple[Ticket, Entry]:
    """A reply to a closed ticket (or to a solved one when reopening is off)."""
    content.metadata["follow_up_of"] = ticket.pk
    follow_up = ticket_actions.create_follow_up(
        actor=None,
        closed_ticket=ticket,
        body=content.body,
        subject=_subject(parsed),
        channel=Channel.EMAIL,
        attachments=content.attachments,
        metadata=content.metadata,
        author_customer=author,
    )
    entry = _first_entry(follow_up)
    _add_ccs(follow_up, [author, *_new_participants(parsed, follow_up)])
    return follow_up, entry


def _link_inline_images(entry: Entry, content: _Content, parsed: ParsedMessage) -> None:
    """Stores the sanitized HTML with cid: images pointing at the stored attachments."""
    if not parsed.html:
        return
    stored = list(entry.attachments.order_by("id"))
    cid_urls = {
        content_id: ATTACHMENT_URL.format(id=attachment.pk)
        for content_id, attachment in zip(content.content_ids, stored, strict=False)
        if content_id
    }
    html = display_html(parsed.html, cid_urls)
    if len(html) > HTML_METADATA_MAX_CHARS:
        return
    entry.metadata = {**entry.metadata, "html": html}
    entry.save(update_fields=["metadata"])


def _handle_bounce(message: InboundMessage, parsed: ParsedMessage) -> None:
    """Marks the entry whose outgoing mail bounced; never opens a ticket."""
    report = parse_delivery_report(parsed)
    record = (
        MessageRecord.objects.filter(
            message_id__in=report.original_message_ids, direction=Direction.OUTBOUND
        )
        .select_related("entry")
        .first()
        if report.original_message_ids
        else None
    )
    summary = report.summary()
    if record is None:
        _finish(
            message,
            InboundStatus.BOUNCE,
            "Delivery report for a message we have no record of "
            f"({', '.join(report.original_message_ids) or 'no Message-ID found'}).",
        )
        return
    key = "delivery_failed" if report.has_failed else "delivery_delayed"
    if record.entry is not None:
        entry = Entry.objects.select_for_update().get(pk=record.entry.pk)
        entry.metadata = {
            **entry.metadata,
            key: {**summary, "reported_at": timezone.now().isoformat()},
        }
        entry.save(update_fields=["metadata"])
    message.ticket_id, message.entry_id = record.ticket_id, record.entry_id
    _finish(
        message,
        InboundStatus.BOUNCE,
        f"{summary['action'] or 'failed'} {summary['status']} {summary['recipient']}: "
        f"{summary['diagnostic']}".strip()[:2000],
    )


# --- admin actions -----------------------------------------------------------------


def reprocess_message(*, actor: Any, message: InboundMessage) -> InboundMessage:
    """Puts a quarantined, ignored or discarded message back in the queue (admins)."""
    policy.require(policy.can_manage_settings(actor), "Only admins re-process mail.")
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().get(pk=message.pk)
        if message.status not in (
            InboundStatus.QUARANTINED,
            InboundStatus.IGNORED,
            InboundStatus.DISCARDED,
        ):
            raise ValidationFailed(
                f"Only quarantined, ignored or discarded messages can be re-processed; "
                f"this one is {message.get_status_display().lower()}."
            )
        message.status = InboundStatus.RECEIVED
        message.error = ""
        message.save(update_fields=["status", "error"])
        _enqueue_processing(message.pk)
    return message


def discard_message(*, actor: Any, message: InboundMessage) -> InboundMessage:
    """Drops a quarantined or received message from the queue; the raw stays for audit."""
    policy.require(policy.can_manage_settings(actor), "Only admins discard mail.")
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().get(pk=message.pk)
        if message.status not in (InboundStatus.QUARANTINED, InboundStatus.RECEIVED):
            raise ValidationFailed("Only quarantined or unprocessed messages can be discarded.")
        message.status = InboundStatus.DISCARDED
        message.save(update_fields=["status"])
    return message


MAILBOX_FIELDS = {
    "name", "address", "from_name", "is_active", "default_team", "imap_host", "imap_port",
    "imap_use_ssl", "imap_user", "imap_password", "imap_folder", "imap_after_import",
    "imap_move_to_folder", "smtp_host", "smtp_port", "smtp_security", "smtp_user",
    "smtp_password", "mailgun_signing_key", "max_attachment_bytes", "spam_threshold",
    "reopen_solved_on_reply", "acknowledge_new_requests", "max_messages_per_sender_per_hour",
    "is_default", "signature", "acknowledgement_subject", "acknowledgement_template",
    "assignment_notification_template", "customer_reply_notification_template",
}  # fmt: skip
TEMPLATE_FIELDS = (
    "signature", "acknowledgement_subject", "acknowledgement_template",
    "assignment_notification_template", "customer_reply_notification_template",
)  # fmt: skip


def save_mailbox(*, actor: Any, changes: dict[str, Any], mailbox: Mailbox | None = None) -> Mailbox:
    """Creates (``mailbox=None``) or changes a mailbox (admins only)."""
    policy.require(policy.can_manage_settings(actor), "Only admins manage mailboxes.")
    if unknown := set(changes) - MAILBOX_FIELDS:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    mailbox = mailbox or Mailbox()
    for name, value in changes.items():
        setattr(mailbox, name, value)
    mailbox.address = mailbox.address.strip().lower()
    mailbox.name = " ".join(mailbox.name.split()) or mailbox.address
    errors: dict[str, list[str]] = {}
    local, at, domain = mailbox.address.rpartition("@")
    if not at or not local or "." not in domain or "+" in local:
        errors["address"] = ["Enter a plain address such as help@example.com (no +tag)."]
    elif Mailbox.objects.filter(address__iexact=mailbox.address).exclude(pk=mailbox.pk).exists():
        errors["address"] = ["Another mailbox uses this address."]
    for name in TEMPLATE_FIELDS:
        if unknown_names := outbound.unknown_placeholders(getattr(mailbox, name)):
            errors[name] = [
                f"Unknown placeholders: {', '.join('{' + n + '}' for n in unknown_names)}. "
                f"Known: {', '.join('{' + n + '}' for n in outbound.PLACEHOLDERS)}."
            ]
    if errors:
        raise ValidationFailed("The mailbox is not valid.", field_errors=errors)
    with transaction.atomic():
        mailbox.save()
        if mailbox.is_default:
            # One default mailbox: marking this one unmarks the others.
            Mailbox.objects.filter(is_default=True).exclude(pk=mailbox.pk).update(is_default=False)
    return mailbox


def regenerate_inbound_secret(*, actor: Any, mailbox: Mailbox) -> Mailbox:
    """A new secret for the HTTP inbound endpoint; the old one stops working at once."""
    policy.require(policy.can_manage_settings(actor), "Only admins manage mailboxes.")
    mailbox.inbound_secret = generate_inbound_secret()
    mailbox.save(update_fields=["inbound_secret", "updated_at"])
    return mailbox


def record_outgoing_message(
    *, mailbox: Mailbox, message_id: str, ticket: Ticket, entry: Entry | None
) -> MessageRecord:
    """Remembers the Message-ID of mail we sent, so replies to it thread (sending slice)."""
    record, _ = MessageRecord.objects.get_or_create(
        mailbox=mailbox,
        message_id=message_id.strip().strip("<>"),
        defaults={"ticket": ticket, "entry": entry, "direction": Direction.OUTBOUND},
    )
    return record


# --- receiving over HTTP --------------------------------------------------------------


def receive_http_message(
    *,
    mailbox_id: int,
    secret: str,
    provider: str,
    payload: Any,
    files: Any = None,
) -> InboundMessage:
    """The HTTP inbound endpoints: checks the mailbox's secret, then receives.

    Every post must carry the mailbox's inbound secret; Mailgun posts must
    also be signed with the mailbox's Mailgun key (checked by
    ``receive_provider_payload``). An unknown mailbox and a wrong secret get
    the same answer, so the endpoint does not reveal which mailboxes exist.
    """
    mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).first()
    if mailbox is None or not (
        secret and hmac.compare_digest(secret.encode(), mailbox.inbound_secret.encode())
    ):
        raise policy.PermissionDenied("The mailbox secret is missing or wrong.")
    return receive_provider_payload(
        mailbox=mailbox, provider=provider, payload=payload, files=files
    )


def requeue_unprocessed_messages(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Queues again messages still "received" after a while (their task was lost in a crash)."""
    pending = list(
        InboundMessage.objects.filter(
            status=InboundStatus.RECEIVED, received_at__lt=timezone.now() - older_than
        ).values_list("pk", flat=True)[:10_000]
    )
    for message_id in pending:
        _enqueue_processing(message_id)
    return len(pending)


# --- sending ----------------------------------------------------------------------

MAX_SEND_ATTEMPTS = 6
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 2 * 60 * 60
SENDING_STALE_AFTER = timedelta(minutes=15)
ACKNOWLEDGEMENTS_PER_SENDER_PER_HOUR = 3


def queue_reply_email(*, entry_id: int) -> bool:
    """Queues an agent's public reply as a threaded email; False when mail does not carry it.

    False means there is no active mailbox for the ticket (neither the one its
    mail came to nor a default one), or no one to write to: the caller then
    falls back to its generic notification. Running it twice queues one email.
    """
    entry = (
        Entry.objects.select_related("ticket__requester", "author_user").filter(pk=entry_id).first()
    )
    if entry is None or not entry.is_public or entry.author_user_id is None:
        return False
    if OutboundMessage.objects.filter(entry=entry, kind=OutboundKind.REPLY).exists():
        return True
    mailbox = outbound.mailbox_for_ticket(entry.ticket)
    if mailbox is None:
        return False
    composed = outbound.compose_reply(entry=entry, mailbox=mailbox)
    if composed is None:
        return False
    _queue(mailbox=mailbox, entry=entry, kind=OutboundKind.REPLY, composed=composed)
    return True


def queue_acknowledgement(*, entry_id: int) -> OutboundMessage | None:
    """Answers the mail that opened a ticket with the mailbox's acknowledgement, when allowed.

    Never for automated senders (``loops.may_auto_reply``), spam, or a sender
    who already got ``ACKNOWLEDGEMENTS_PER_SENDER_PER_HOUR`` within the hour.
    """
    entry = Entry.objects.select_related("ticket__requester").filter(pk=entry_id).first()
    if entry is None or not may_auto_reply(entry) or entry.metadata.get("is_spam"):
        return None
    record = (
        MessageRecord.objects.filter(entry=entry, direction=Direction.INBOUND)
        .select_related("mailbox")
        .first()
    )
    mailbox = record.mailbox if record is not None else None
    if mailbox is None or not (mailbox.is_active and mailbox.acknowledge_new_requests):
        return None
    if existing := OutboundMessage.objects.filter(
        entry=entry, kind=OutboundKind.ACKNOWLEDGEMENT
    ).first():
        return existing
    composed = outbound.compose_acknowledgement(entry=entry, mailbox=mailbox)
    if composed is None:
        return None
    recent = OutboundMessage.objects.filter(
        kind=OutboundKind.ACKNOWLEDGEMENT, created_at__gte=timezone.now() - RATE_WINDOW
    ).values_list("to", flat=True)[:1000]
    if sum(1 for to in recent if composed.to[0] in to) >= ACKNOWLEDGEMENTS_PER_SENDER_PER_HOUR:
        logger.info("acknowledgement to %s skipped: rate limit", composed.to[0])
        return None
    return _queue(
        mailbox=mailbox, entry=entry, kind=OutboundKind.ACKNOWLEDGEMENT, composed=composed
    )


def _queue(
    *, mailbox: Mailbox, entry: Entry, kind: str, composed: outbound.Composed
) -> OutboundMessage | None:
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                mailbox=mailbox,
                ticket=entry.ticket,
                entry=entry,
                kind=kind,
                message_id=composed.message_id,
                from_header=composed.from_header,
                to=composed.to,
                cc=composed.cc,
                reply_to=composed.reply_to,
                subject=composed.subject[:998],
                in_reply_to=composed.in_reply_to,
                references=composed.references,
                auto_submitted=composed.auto_submitted,
                body_text=composed.body_text,
                body_html=composed.body_html,
                next_attempt_at=timezone.now(),
            )
            # Recorded before it leaves: the customer may answer within seconds.
            record_outgoing_message(
                mailbox=mailbox,
                message_id=composed.message_id,
                ticket=entry.ticket,
                entry=entry if kind == OutboundKind.REPLY else None,
            )
            _note_delivery(message)
            _enqueue_send(message)
    except IntegrityError:
        # Queued concurrently by another run of the same task.
        return OutboundMessage.objects.filter(entry=entry, kind=kind).first()
    return message


def _enqueue_send(message: OutboundMessage) -> None:
    from concierge.mail import tasks

    task = tasks.send_outbound_message
    run_after = message.next_attempt_at
    if run_after is not None and run_after > timezone.now():
        if not task.get_backend().supports_defer:
            # Backends without delayed tasks (the inline test backend): the
            # sweep in ``enqueue_due_outbound`` sends it when it is due.
            return
        on_commit(lambda: task.using(run_after=run_after).enqueue(message.pk))
        return
    enqueue_after_commit(task, message.pk)


def _note_delivery(message: OutboundMessage) -> None:
    """Shows the delivery state of a reply on its entry (``metadata["delivery"]``)."""
    if message.entry_id is None or message.kind != OutboundKind.REPLY:
        return
    shown = {
        OutboundStatus.QUEUED: "retrying" if message.attempts else "queued",
        OutboundStatus.SENDING: "sending",
        OutboundStatus.SENT: "sent",
        OutboundStatus.FAILED: "failed",
    }[OutboundStatus(message.status)]
    delivery: dict[str, Any] = {
        "status": shown,
        "outbound_id": message.pk,
        "message_id": message.message_id,
        "attempts": message.attempts,
    }
    if message.last_error and message.status != OutboundStatus.SENT:
        delivery["error"] = message.last_error
    if shown == "retrying" and message.next_attempt_at:
        delivery["next_attempt_at"] = message.next_attempt_at.isoformat()
    if message.sent_at:
        delivery["sent_at"] = message.sent_at.isoformat()
    with transaction.atomic():
        entry = Entry.objects.select_for_update().get(pk=message.entry_id)
        entry.metadata = {**entry.metadata, "delivery": delivery}
        entry.save(update_fields=["metadata"])


def deliver_outbound(*, outbound_id: int) -> OutboundMessage | None:
    """Sends one queued message over SMTP; on failure retries later with exponential backoff.

    The row is claimed ("sending") in a short transaction and the network call
    runs outside it, so no database lock is held while a server is slow.
    Temporary failures (4xx, timeouts, refused connections) are retried up to
    ``MAX_SEND_ATTEMPTS`` times, waiting 1, 2, 4 ... minutes; a permanent
    refusal (5xx) fails at once. A failed reply says why on its entry and can
    be sent again with ``retry_outbound``.
    """
    now = timezone.now()
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("mailbox")
            .filter(pk=outbound_id)
            .first()
        )
        if message is None or message.status != OutboundStatus.QUEUED:
            return message
        if message.next_attempt_at and message.next_attempt_at > now + timedelta(seconds=1):
            return message  # an early duplicate task; the scheduled one will send it
        message.status = OutboundStatus.SENDING
        message.attempts += 1
        message.next_attempt_at = now  # while "sending": when this attempt started
        message.save(update_fields=["status", "attempts", "next_attempt_at"])
    try:
        email = outbound.build_email(message)
        with outbound.smtp_connection(message.mailbox) as connection:
            connection.send_messages([email])
    except (smtplib.SMTPException, OSError) as error:
        return _delivery_failed(message, error, permanent=_is_permanent(error))
    except Exception as error:  # a bug must not leave the row "sending" forever
        logger.exception("outbound message %s could not be built or sent", outbound_id)
        return _delivery_failed(message, error, permanent=True)
    message.status = OutboundStatus.SENT
    message.sent_at = timezone.now()
    message.last_error = ""
    message.next_attempt_at = None
    message.save(update_fields=["status", "sent_at", "last_error", "next_attempt_at"])
    _note_delivery(message)
    return message


def _is_permanent(error: BaseException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{address}: {code} {_text(reply)}"
            for address, (code, reply) in error.recipients.items()
        )
        return f"Recipients refused: {refused}"
    code, reply = getattr(error, "smtp_code", None), getattr(error, "smtp_error", None)
    if code is not None:
        return f"{type(error).__name__}: {code} {_text(reply)}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _text(reply: Any) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _delivery_failed(
    message: OutboundMessage, error: BaseException, *, permanent: bool
) -> OutboundMessage:
    message.last_error = _describe(error)[:2000]
    if permanent or message.attempts >= MAX_SEND_ATTEMPTS:
        message.status = OutboundStatus.FAILED
        message.next_attempt_at = None
    else:
        delay = min(RETRY_BASE_SECONDS * 2 ** (message.attempts - 1), RETRY_MAX_SECONDS)
        message.status = OutboundStatus.QUEUED
        message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    logger.warning(
        "outbound message %s attempt %s failed: %s",
        message.pk,
        message.attempts,
        message.last_error,
    )
    with transaction.atomic():
        message.save(update_fields=["status", "last_error", "next_attempt_at"])
        _note_delivery(message)
        if message.status == OutboundStatus.QUEUED:
            _enqueue_send(message)
    return message


def retry_outbound(*, actor: Any, outbound_id: int) -> OutboundMessage:
    """Sends a failed email again (agents who may reply on its ticket)."""
    message = OutboundMessage.objects.select_related("ticket").filter(pk=outbound_id).first()
    ticket = policy.require_ticket_visible(actor, message.ticket if message else None)
    policy.require(policy.can_reply_publicly(actor, ticket), "You cannot send mail on this ticket.")
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=outbound_id)
        if message.status != OutboundStatus.FAILED:
            raise Conflict(
                f"Only failed emails can be sent again; this one is "
                f"{message.get_status_display().lower()}."
            )
        message.status = OutboundStatus.QUEUED
        message.attempts = 0
        message.last_error = ""
        message.next_attempt_at = timezone.now()
        message.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
        _note_delivery(message)
        _enqueue_send(message)
    return message


def enqueue_due_outbound() -> int:
    """Queues sends that are due, and frees sends a crashed worker left "sending"."""
    now = timezone.now()
    OutboundMessage.objects.filter(
        status=OutboundStatus.SENDING, next_attempt_at__lt=now - SENDING_STALE_AFTER
    ).update(status=OutboundStatus.QUEUED)
    due = list(
        OutboundMessage.objects.filter(
            status=OutboundStatus.QUEUED, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:1000]
    )
    from concierge.mail import tasks

    for outbound_id in due:
        enqueue_after_commit(tasks.send_outbound_message, outbound_id)
    return len(due)
