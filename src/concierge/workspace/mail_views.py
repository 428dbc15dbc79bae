"""The email channel in the workspace: delivery retries, original messages, mailboxes, quarantine.

Agents retry a failed reply from the ticket page and download the original
of a received message; admins configure mailboxes and work the quarantine.
Every decision is the mail domain's (``concierge.mail.services`` / ``actions``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from concierge.accounts import services as account_services
from concierge.core.errors import ConciergeError, Conflict, NotFound, ValidationFailed
from concierge.mail import actions as mail_actions
from concierge.mail import services as mail_services
from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
from concierge.workspace import forms
from concierge.workspace.access import error_page, page, settings_required, staff_required
from concierge.workspace.mail_forms import PLACEHOLDER_HINT, MailboxForm

QUARANTINE_PAGE_SIZE = 50
# The inbound log's tabs: what needs an admin first.
LOG_TABS = (
    (InboundStatus.QUARANTINED, "Quarantined"),
    (InboundStatus.IGNORED, "Ignored (loops)"),
    (InboundStatus.BOUNCE, "Delivery reports"),
    (InboundStatus.DISCARDED, "Discarded"),
)


# --- ticket page: delivery and originals ----------------------------------------------------


@staff_required
@require_POST
def retry_delivery(request: HttpRequest, ticket_id: int, outbound_id: int) -> HttpResponse:
    """Sends a failed reply email again, then returns to its entry on the ticket."""
    try:
        message = mail_actions.retry_outbound(actor=request.user, outbound_id=outbound_id)
    except (Conflict, ValidationFailed) as error:
        messages.error(request, f"Not sent again: {error.message}")
        return redirect("workspace:ticket", ticket_id=ticket_id)
    messages.success(request, "The email is queued to be sent again.")
    anchor = f"#entry-{message.entry_id}" if message.entry_id else ""
    return redirect(reverse("workspace:ticket", args=[message.ticket_id]) + anchor)


@staff_required
def original_message(request: HttpRequest, message_id: int) -> HttpResponseBase:
    """The message exactly as received, as a plain-text download that never renders as a page."""
    message = mail_services.get_original_message(user=request.user, message_id=message_id)
    try:
        handle = message.raw.open("rb")
    except FileNotFoundError:
        return error_page(request, NotFound("The original is missing from storage."))
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"message-{message.pk}.eml",
        content_type="text/plain",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- settings: mailboxes ------------------------------------------------------------------------


@settings_required
def mailboxes(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "mailboxes": list(mail_services.list_mailboxes(user=user)),
        "status_counts": mail_services.inbound_status_counts(user=user),
    }
    return page(request, "workspace/mail/mailboxes.html", context)


def _endpoints(request: HttpRequest, mailbox: Mailbox) -> list[tuple[str, str]]:
    """Where mail servers and providers post this mailbox's mail (the secret goes with them)."""
    return [
        (label, request.build_absolute_uri(reverse(name, kwargs={"mailbox_id": mailbox.pk})))
        for label, name in (
            ("Raw RFC 5322 message", "api:receive_raw"),
            ("Postmark inbound webhook", "api:receive_postmark"),
            ("Mailgun route (forward)", "api:receive_mailgun"),
        )
    ]


def _secret_page(request: HttpRequest, mailbox: Mailbox, *, created: bool) -> HttpResponse:
    # Rendered, not redirected: the secret must never sit in a session or a URL.
    response = page(
        request,
        "workspace/mail/mailbox_secret.html",
        {
            "mailbox": mailbox,
            "new_secret": mailbox.inbound_secret,
            "created": created,
            "endpoints": _endpoints(request, mailbox),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@settings_required
@require_http_methods(["GET", "POST"])
def mailbox_edit(request: HttpRequest, mailbox_id: int | None = None) -> HttpResponse:
    user = request.user
    mailbox = (
        mail_services.get_mailbox(user=user, mailbox_id=mailbox_id)
        if mailbox_id is not None
        else None
    )
    initial = MailboxForm.initial_from(mailbox) if mailbox else MailboxForm.defaults()
    form = MailboxForm(
        request.POST or None,
        initial=initial,
        teams=list(account_services.list_teams(user=user)),
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = mail_actions.save_mailbox(
                    actor=user, changes=form.changes(), mailbox=mailbox
                )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                if mailbox is None:
                    return _secret_page(request, saved, created=True)
                messages.success(request, f"Mailbox {saved.name} saved.")
                return redirect("workspace:settings_mailbox", mailbox_id=saved.pk)
    context: dict[str, Any] = {
        "form": form,
        "mailbox": mailbox,
        "endpoints": _endpoints(request, mailbox) if mailbox else [],
        "placeholder_hint": PLACEHOLDER_HINT,
    }
    return page(request, "workspace/mail/mailbox_form.html", context, status=status)


@settings_required
@require_POST
def mailbox_regenerate_secret(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    user = request.user
    mailbox = mail_services.get_mailbox(user=user, mailbox_id=mailbox_id)
    mailbox = mail_actions.regenerate_inbound_secret(actor=user, mailbox=mailbox)
    return _secret_page(request, mailbox, created=False)


# --- settings: quarantine and the inbound log -----------------------------------------------------


@settings_required
def quarantine(request: HttpRequest) -> HttpResponse:
    user = request.user
    status = request.GET.get("status", InboundStatus.QUARANTINED)
    if status not in dict(LOG_TABS):
        status = InboundStatus.QUARANTINED
    listed = mail_services.list_inbound_messages(user=user, status=status)
    page_obj = Paginator(listed, QUARANTINE_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = mail_services.inbound_status_counts(user=user)
    context = {
        "status": status,
        "tabs": [(key, label, counts.get(key, 0)) for key, label in LOG_TABS],
        "page_obj": page_obj,
        "inbound_messages": list(page_obj.object_list),
    }
    return page(request, "workspace/mail/quarantine.html", context)


@settings_required
def quarantine_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = mail_services.get_inbound_message(user=request.user, message_id=message_id)
    try:
        head, is_cut = mail_services.raw_preview(message)
        preview, missing = head.decode("utf-8", errors="replace"), False
    except FileNotFoundError:
        preview, is_cut, missing = "", False, True
    context = {
        "message": message,
        "preview": preview,
        "preview_is_cut": is_cut,
        "raw_missing": missing,
        "preview_limit": mail_services.RAW_PREVIEW_MAX_BYTES,
        "can_reprocess": message.status
        in (InboundStatus.QUARANTINED, InboundStatus.IGNORED, InboundStatus.DISCARDED),
        "can_discard": message.status in (InboundStatus.QUARANTINED, InboundStatus.RECEIVED),
    }
    return page(request, "workspace/mail/quarantine_detail.html", context)


def _quarantine_action(request: HttpRequest, message_id: int, action: Any, done: str) -> Any:
    user = request.user
    message: InboundMessage = mail_services.get_inbound_message(user=user, message_id=message_id)
    try:
        action(actor=user, message=message)
    except ValidationFailed as error:
        messages.error(request, error.message)
        return redirect("workspace:settings_mail_message", message_id=message.pk)
    messages.success(request, done)
    return redirect(reverse("workspace:settings_mail_quarantine") + f"?status={message.status}")


@settings_required
@require_POST
def quarantine_reprocess(request: HttpRequest, message_id: int) -> HttpResponse:
    return _quarantine_action(
        request,
        message_id,
        mail_actions.reprocess_message,
        "The message is queued to be processed again.",
    )


@settings_required
@require_POST
def quarantine_discard(request: HttpRequest, message_id: int) -> HttpResponse:
    return _quarantine_action(
        request, message_id, mail_actions.discard_message, "The message was discarded."
    )


urlpatterns: list[URLPattern] = [
    path(
        "tickets/<int:ticket_id>/emails/<int:outbound_id>/retry/",
        retry_delivery,
        name="mail_retry_delivery",
    ),
    path("mail/messages/<int:message_id>/original/", original_message, name="mail_original"),
    path("settings/mail/", mailboxes, name="settings_mail"),
    path("settings/mail/new/", mailbox_edit, name="settings_mailbox_new"),
    path("settings/mail/<int:mailbox_id>/", mailbox_edit, name="settings_mailbox"),
    path(
        "settings/mail/<int:mailbox_id>/secret/",
        mailbox_regenerate_secret,
        name="settings_mailbox_secret",
    ),
    path("settings/mail/quarantine/", quarantine, name="settings_mail_quarantine"),
    path(
        "settings/mail/quarantine/<int:message_id>/",
        quarantine_detail,
        name="settings_mail_message",
    ),
    path(
        "settings/mail/quarantine/<int:message_id>/reprocess/",
        quarantine_reprocess,
        name="settings_mail_reprocess",
    ),
    path(
        "settings/mail/quarantine/<int:message_id>/discard/",
        quarantine_discard,
        name="settings_mail_discard",
    ),
]
