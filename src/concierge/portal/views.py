"""The customer portal: signing in, a customer's requests and their conversation.

Thin by design: each view parses a form, calls one domain service or action
and renders. Access comes from the domain (``tickets.services`` apply
``core.policy``); a ticket the customer may not see is a 404, never a 403,
so its existence does not leak.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from concierge.accounts import actions as account_actions
from concierge.accounts.models import User
from concierge.core import policy
from concierge.core.errors import ConciergeError, EmailNotConfirmed, NotFound, ValidationFailed
from concierge.customers.models import Customer
from concierge.knowledge import actions as knowledge_actions
from concierge.portal.forms import (
    FollowUpForm,
    MagicLinkForm,
    NewRequestForm,
    ReplyForm,
    SignInForm,
    SignUpForm,
    to_attachments,
)
from concierge.portal.help_views import HELP_SESSION_KEY
from concierge.tickets import actions as ticket_actions
from concierge.tickets import services as ticket_services
from concierge.tickets.models import Channel, EntryKind, FieldType, Status, Ticket

logger = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
PAGE_SIZE = 20

# The list filters, in the customer's words.
STATUS_FILTERS: dict[str, list[str]] = {
    "open": [Status.NEW, Status.OPEN, Status.ON_HOLD],
    "awaiting": [Status.PENDING],
    "solved": [Status.SOLVED, Status.CLOSED],
}
SCOPES = ("mine", "organization")

CustomerView = Callable[..., HttpResponse]


def customer_required(view: CustomerView) -> Callable[..., HttpResponse]:
    """Signs visitors in first; passes the signed-in customer's record to the view."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        customer = policy.customer_of(request.user)
        if customer is None:
            return render(request, "portal/not_customer.html", status=403)
        return view(request, customer, *args, **kwargs)

    return wrapper


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("portal:request_list")


def _sign_in(request: HttpRequest, user: User) -> None:
    login(request, user, backend=MODEL_BACKEND)


# --- signing in and out --------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if policy.customer_of(request.user) is not None:
        return redirect("portal:request_list")
    return redirect("portal:login")


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                account_actions.sign_up_customer(
                    email=form.cleaned_data["email"],
                    name=form.cleaned_data["name"],
                    password=form.cleaned_data["password"],
                )
            except ConciergeError as error:
                form.add_domain_error(error)
                status = error.status
            else:
                return redirect("portal:confirm_sent")
    return render(request, "portal/signup.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST or None)
    status = 200
    unconfirmed_email = ""
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = account_actions.sign_in(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                    ip=_client_ip(request),
                    roles=("customer",),
                )
            except EmailNotConfirmed as error:
                form.add_domain_error(error)
                status = error.status
                unconfirmed_email = form.cleaned_data["email"]
            except ConciergeError as error:
                form.add_domain_error(error)
                status = error.status
            else:
                _sign_in(request, user)
                return redirect(_next_url(request))
    context = {"form": form, "next": _next_url(request), "unconfirmed_email": unconfirmed_email}
    return render(request, "portal/login.html", context, status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("portal:login")


@require_http_methods(["GET", "POST"])
def magic_link_request(request: HttpRequest) -> HttpResponse:
    form = MagicLinkForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                account_actions.request_magic_link(
                    email=form.cleaned_data["email"], ip=_client_ip(request)
                )
            except ConciergeError as error:
                form.add_error(None, error.message)
                return render(request, "portal/magic_link_request.html", {"form": form}, status=429)
            return redirect("portal:magic_link_sent")
        return render(request, "portal/magic_link_request.html", {"form": form}, status=400)
    return render(request, "portal/magic_link_request.html", {"form": form})


@require_GET
def confirm_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/confirm_sent.html")


@require_GET
def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the emailed link confirms the address; the customer then signs in.

    Confirming is safe to do on GET (a mail scanner opening the link only
    proves what the link proves); it signs nobody in.
    """
    user = account_actions.confirm_email(token)
    if user is None:
        return render(request, "portal/confirm_invalid.html", status=400)
    return render(request, "portal/confirm_done.html", {"email": user.email})


@require_POST
def confirm_resend(request: HttpRequest) -> HttpResponse:
    email = request.POST.get("email", "")[:254]
    try:
        account_actions.resend_email_confirmation(email=email, ip=_client_ip(request))
    except ConciergeError as error:
        messages.error(request, error.message)
        return redirect("portal:login")
    return redirect("portal:confirm_sent")


@require_GET
def magic_link_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/magic_link_sent.html")


@require_http_methods(["GET", "POST"])
def magic_link_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for a click, POST signs in: mail scanners that fetch links use no token up."""
    if request.method == "POST":
        user = account_actions.redeem_magic_link(token)
        if user is not None:
            _sign_in(request, user)
            messages.success(request, f"Welcome back, {user.name}!")
            return redirect("portal:request_list")
        return render(request, "portal/magic_link_confirm.html", {"valid": False}, status=400)
    valid = account_actions.magic_link_user(token) is not None
    return render(
        request, "portal/magic_link_confirm.html", {"valid": valid}, status=200 if valid else 400
    )


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset_form.html"
    email_template_name = "portal/password_reset_email.txt"
    subject_template_name = "portal/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            account_actions.check_mail_request_allowed(
                email=form.cleaned_data["email"], ip=_client_ip(self.request)
            )
        except ConciergeError as error:
            form.add_error(None, error.message)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        # The link in the email points at the public address, not the request's host.
        self.extra_email_context = {"site_url": settings.SITE_URL, "site_name": settings.SITE_NAME}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # The reset link reached the mailbox, and its owner just chose this password.
        account_actions.mark_email_confirmed(form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/password_reset_complete.html"


# --- requests ----------------------------------------------------------------------


@require_GET
@customer_required
def request_list(request: HttpRequest, customer: Customer) -> HttpResponse:
    organization = customer.organization
    shows_organization = organization is not None and organization.members_see_all_requests
    scope = request.GET.get("scope", "") if shows_organization else ""
    scope = scope if scope in SCOPES else ""
    status = request.GET.get("status", "")
    status = status if status in STATUS_FILTERS else ""
    filters = ticket_services.TicketFilters(statuses=list(STATUS_FILTERS.get(status, [])))
    if scope == "mine":
        filters.participant_id = customer.pk
    elif scope == "organization" and organization is not None:
        filters.organization_id = organization.pk
    cursor = request.GET.get("cursor", "")
    try:
        page = ticket_services.list_tickets(
            user=request.user, filters=filters, cursor=cursor, page_size=PAGE_SIZE
        )
    except ValidationFailed:
        # A cursor mangled in the address bar: start from the first page.
        page = ticket_services.list_tickets(user=request.user, filters=filters, page_size=PAGE_SIZE)
    context = {
        "page": page,
        "scope": scope,
        "status": status,
        "shows_organization": shows_organization,
        "organization": organization,
        "customer": customer,
        "is_filtered": bool(scope or status),
    }
    return render(request, "portal/request_list.html", context)


@require_http_methods(["GET", "POST"])
@customer_required
def request_new(request: HttpRequest, customer: Customer) -> HttpResponse:
    custom_fields = ticket_services.customer_custom_fields(user=request.user)
    if request.method != "POST":
        form = NewRequestForm(custom_fields=custom_fields)
        return render(request, "portal/request_new.html", {"form": form})
    form = NewRequestForm(request.POST, request.FILES, custom_fields=custom_fields)
    status = 400
    if form.is_valid():
        try:
            ticket = ticket_actions.create_ticket(
                actor=request.user,
                requester=customer,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["description"],
                channel=Channel.PORTAL,
                custom_fields=form.custom_field_values(),
                attachments=to_attachments(form.cleaned_data["attachments"]),
            )
        except ConciergeError as error:
            form.add_domain_error(error)
            status = error.status
        else:
            # Deflection: the help session (if any) that still ended in a request.
            knowledge_actions.note_request_opened(
                session_key=request.session.get(HELP_SESSION_KEY, ""), ticket=ticket
            )
            messages.success(request, f"Thank you! We received your request #{ticket.pk}.")
            return redirect("portal:request_detail", ticket_id=ticket.pk)
    context = {"form": form, "files_were_chosen": bool(request.FILES)}
    return render(request, "portal/request_new.html", context, status=status)


def _visible_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    try:
        return ticket_services.get_ticket(user=request.user, ticket_id=ticket_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _display_value(field_type: str, value: Any) -> str:
    if field_type == FieldType.CHECKBOX:
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _render_detail(
    request: HttpRequest,
    ticket: Ticket,
    *,
    reply_form: ReplyForm | None = None,
    follow_up_form: FollowUpForm | None = None,
    status: int = 200,
) -> HttpResponse:
    entries = ticket_services.visible_entries(user=request.user, ticket=ticket)
    details = [
        (field.label, _display_value(field.field_type, ticket.custom_fields[field.key]))
        for field in ticket_services.customer_custom_fields(user=request.user)
        if ticket.custom_fields.get(field.key) not in (None, "", [])
    ]
    is_merged = ticket.merged_into_id is not None
    is_closed = ticket.status == Status.CLOSED
    context = {
        "ticket": ticket,
        "entries": entries,
        "details": details,
        "is_merged": is_merged,
        "is_closed": is_closed,
        "can_reply": not is_merged and not is_closed,
        "can_follow_up": is_closed and not is_merged,
        "can_mark_solved": ticket.is_unsolved and not is_merged,
        "reply_form": reply_form or ReplyForm(),
        "follow_up_form": follow_up_form or FollowUpForm(),
        "files_were_chosen": bool(request.FILES),
    }
    return render(request, "portal/request_detail.html", context, status=status)


@require_GET
@customer_required
def request_detail(request: HttpRequest, customer: Customer, ticket_id: int) -> HttpResponse:
    return _render_detail(request, _visible_ticket(request, ticket_id))


@require_POST
@customer_required
def request_reply(request: HttpRequest, customer: Customer, ticket_id: int) -> HttpResponse:
    ticket = _visible_ticket(request, ticket_id)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_detail(request, ticket, reply_form=form, status=400)
    try:
        ticket_actions.add_entry(
            actor=request.user,
            ticket=ticket,
            body=form.cleaned_data["body"],
            kind=EntryKind.PUBLIC_REPLY,
            channel=Channel.PORTAL,
            attachments=to_attachments(form.cleaned_data["attachments"]),
        )
    except ConciergeError as error:
        form.add_domain_error(error)
        return _render_detail(request, ticket, reply_form=form, status=error.status)
    messages.success(request, "Your reply was sent.")
    return redirect("portal:request_detail", ticket_id=ticket.pk)


@require_POST
@customer_required
def request_mark_solved(request: HttpRequest, customer: Customer, ticket_id: int) -> HttpResponse:
    ticket = _visible_ticket(request, ticket_id)
    try:
        ticket_actions.customer_mark_solved(actor=request.user, ticket=ticket)
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Marked as solved. Reply any time if you need more help.")
    return redirect("portal:request_detail", ticket_id=ticket.pk)


@require_POST
@customer_required
def request_follow_up(request: HttpRequest, customer: Customer, ticket_id: int) -> HttpResponse:
    ticket = _visible_ticket(request, ticket_id)
    form = FollowUpForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_detail(request, ticket, follow_up_form=form, status=400)
    try:
        follow_up = ticket_actions.create_follow_up(
            actor=request.user,
            closed_ticket=ticket,
            body=form.cleaned_data["body"],
            channel=Channel.PORTAL,
            attachments=to_attachments(form.cleaned_data["attachments"]),
        )
    except ConciergeError as error:
        form.add_domain_error(error)
        return _render_detail(request, ticket, follow_up_form=form, status=error.status)
    messages.success(request, f"We opened request #{follow_up.pk} to follow up on #{ticket.pk}.")
    return redirect("portal:request_detail", ticket_id=follow_up.pk)
