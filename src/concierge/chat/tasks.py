"""Background work for live chat: transcripts by email and ending idle chats.

Each task takes IDs (and plain values), re-reads what it needs and is safe
to run twice: a transcript already sent for this request is not sent again.
"""

from __future__ import annotations

import html
import logging
import smtplib
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django_tasks import task

from concierge.chat import services
from concierge.chat.models import ChatConversation
from concierge.core.sanitize import plain_text

logger = logging.getLogger(__name__)

INTRODUCTIONS = {
    "requested": "Here is the transcript of your chat with {team}.",
    "idle": ("Your chat with {team} ended after a while without messages. Here is the transcript."),
}
CONTINUE_BY_EMAIL = "Reply to this email to continue the conversation."


def _transcript_text(conversation: ChatConversation) -> tuple[str, str]:
    """(plain text, HTML) of the chat's public messages, oldest first."""
    lines: list[str] = []
    blocks: list[str] = []
    for entry in services.transcript_entries(conversation):
        when = entry.created_at.strftime("%Y-%m-%d %H:%M UTC")
        author = entry.author_name
        text = plain_text(entry.body_html, limit=20_000)
        files = [attachment.filename for attachment in entry.attachments.all()]
        if files:
            text += f"\n[attachments: {', '.join(files)}]"
        lines.append(f"[{when}] {author}:\n{text}\n")
        # entry.body_html is the sanitized HTML every channel shows; names are escaped.
        blocks.append(
            f"<p><strong>{html.escape(author)}</strong> "
            f"<small>{html.escape(when)}</small></p>{entry.body_html}"
        )
    return "\n".join(lines), "".join(blocks)


@task()
def send_transcript(conversation_id: int, email: str, reason: str, requested_at: str) -> None:
    """Emails a chat transcript, from the ticket's mailbox so that a reply continues the ticket.

    With a mailbox, the message carries the ticket's Reply-To address and a
    recorded Message-ID, so the customer's answer lands on the same ticket;
    without one it goes from the site's default sender.
    """
    from concierge.mail import actions as mail_actions
    from concierge.mail import outbound
    from concierge.mail.services import reply_address_for
    from concierge.mail.threading import subject_with_token

    conversation = (
        ChatConversation.objects.select_related("ticket", "channel")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return
    requested = datetime.fromisoformat(requested_at)
    if conversation.transcript_sent_at is not None and conversation.transcript_sent_at >= requested:
        return  # this request's transcript went out already (a second run of the task)
    ticket = conversation.ticket
    team = conversation.channel.title or settings.SITE_NAME
    text, body_html = _transcript_text(conversation)
    introduction = INTRODUCTIONS.get(reason, INTRODUCTIONS["requested"]).format(team=team)
    mailbox = outbound.mailbox_for_ticket(ticket)
    headers = {"Auto-Submitted": "auto-generated", "X-Concierge-Ticket": str(ticket.pk)}
    subject = subject_with_token(f"Transcript: {ticket.subject}", ticket.pk)
    reply_to: list[str] | None = None
    from_email = settings.DEFAULT_FROM_EMAIL
    message_id = ""
    if mailbox is not None:
        from_email = outbound.from_header(mailbox)
        reply_to = [reply_address_for(mailbox=mailbox, ticket=ticket)]
        message_id = outbound.new_message_id(mailbox, ticket)
        headers["Message-ID"] = f"<{message_id}>"
        introduction += " " + CONTINUE_BY_EMAIL
    message = EmailMultiAlternatives(
        subject=subject,
        body=f"{introduction}\n\n{text}",
        from_email=from_email,
        to=[email],
        reply_to=reply_to,
        headers=headers,
    )
    message.attach_alternative(
        f"<!DOCTYPE html><html><body><p>{html.escape(introduction)}</p>{body_html}</body></html>",
        "text/html",
    )
    try:
        if mailbox is not None:
            # Recorded before it leaves: the visitor may answer within seconds.
            mail_actions.record_outgoing_message(
                mailbox=mailbox, message_id=message_id, ticket=ticket, entry=None
            )
            with outbound.smtp_connection(mailbox) as connection:
                connection.send_messages([message])
        else:
            message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError):
        logger.exception("chat transcript for ticket %s could not be sent", ticket.pk)
        raise
    ChatConversation.objects.filter(pk=conversation.pk).update(transcript_sent_at=requested)


@task()
def close_idle_chats() -> int:
    """Ends every chat idle past its channel's timeout (``actions.close_idle_conversations``)."""
    from concierge.chat import actions

    return actions.close_idle_conversations()
