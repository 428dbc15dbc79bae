"""Django admin for mailboxes and the inbound log, with re-process / discard actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from concierge.core.errors import ConciergeError
from concierge.mail import actions
from concierge.mail.models import (
    ImapCursor,
    InboundMessage,
    Mailbox,
    MessageRecord,
    OutboundMessage,
)


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "is_active", "is_default", "default_team"]
    list_filter = ["is_active"]
    search_fields = ["name", "address"]
    readonly_fields = ["inbound_secret", "created_at", "updated_at"]


def _run(request: HttpRequest, queryset: QuerySet[InboundMessage], action: Any, verb: str) -> None:
    done = 0
    for message in queryset:
        try:
            action(actor=request.user, message=message)
            done += 1
        except ConciergeError as error:
            messages.error(request, f"#{message.pk}: {error.message}")
    if done:
        messages.success(request, f"{verb} {done} message(s).")


@admin.action(description="Re-process selected messages")
def reprocess(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[InboundMessage]
) -> None:
    _run(request, queryset, actions.reprocess_message, "Queued")


@admin.action(description="Discard selected messages")
def discard(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[InboundMessage]
) -> None:
    _run(request, queryset, actions.discard_message, "Discarded")


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id", "received_at", "mailbox", "status", "sender", "subject", "ticket", "error",
    ]  # fmt: skip
    list_filter = ["status", "source", "mailbox"]
    search_fields = ["message_id", "sender", "subject", "error"]
    raw_id_fields = ["ticket", "entry"]
    readonly_fields = [
        "mailbox", "source", "raw", "raw_size", "sha256", "message_id", "sender", "subject",
        "status", "error", "attempts", "ticket", "entry", "received_at", "processed_at",
    ]  # fmt: skip
    actions = [reprocess, discard]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(MessageRecord)
class MessageRecordAdmin(admin.ModelAdmin):
    list_display = ["message_id", "direction", "mailbox", "ticket", "created_at"]
    list_filter = ["direction", "mailbox"]
    search_fields = ["message_id"]
    raw_id_fields = ["ticket", "entry"]


@admin.action(description="Send selected failed emails again")
def retry_sending(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[OutboundMessage]
) -> None:
    done = 0
    for message in queryset:
        try:
            actions.retry_outbound(actor=request.user, outbound_id=message.pk)
            done += 1
        except ConciergeError as error:
            messages.error(request, f"#{message.pk}: {error.message}")
    if done:
        messages.success(request, f"Queued {done} email(s) again.")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "mailbox", "kind", "status", "attempts", "subject"]
    list_filter = ["status", "kind", "mailbox"]
    search_fields = ["message_id", "subject", "last_error"]
    raw_id_fields = ["ticket", "entry"]
    readonly_fields = [
        "mailbox", "ticket", "entry", "kind", "message_id", "from_header", "to", "cc",
        "reply_to", "subject", "in_reply_to", "references", "auto_submitted", "body_text",
        "body_html", "status", "attempts", "last_error", "next_attempt_at", "created_at",
        "sent_at",
    ]  # fmt: skip
    actions = [retry_sending]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ImapCursor)
class ImapCursorAdmin(admin.ModelAdmin):
    list_display = ["mailbox", "folder", "uidvalidity", "last_uid", "last_checked_at", "last_error"]
    readonly_fields = ["uidvalidity", "last_uid", "last_error", "last_checked_at"]
