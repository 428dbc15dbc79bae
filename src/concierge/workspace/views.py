"""Agent workspace pages: sign-in, inbox, tickets, customers, search, profile.

Each view parses the request, calls one service or action of a domain and
renders the result; access is decided by ``concierge.core.policy`` inside
those services and actions (see ``access.py`` for the page-level gate).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST

from concierge.accounts import actions as account_actions
from concierge.accounts import services as account_services
from concierge.accounts.models import STAFF_ROLES, User
from concierge.ai import services as ai_services
from concierge.automation import actions as automation_actions
from concierge.core import policy
from concierge.core.errors import ConciergeError, LimitExceeded, NotFound, ValidationFailed
from concierge.customers import actions as customer_actions
from concierge.customers import services as customer_services
from concierge.customers.models import Customer, IdentityKind
from concierge.search import services as search_services
from concierge.search.services import SearchHit
from concierge.tickets import actions as ticket_actions
from concierge.tickets import services as ticket_services
from concierge.tickets.models import AuditEvent, Entry, EntryKind, SavedView, Status, Ticket
from concierge.tickets.services import (
    AVAILABLE_COLUMNS,
    PREDICTION_COLUMNS,
    SORTS,
    InboxView,
    TicketFilters,
)
from concierge.workspace import forms
from concierge.workspace.access import error_page, page, staff_required
from concierge.workspace.tables import ticket_cells

SAFE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _safe_next(request: HttpRequest, candidate: str | None, default: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


# --- sign-in ------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    """Staff land in their inbox, customers in the portal, everyone else at sign-in."""
    if policy.can_use_workspace(request.user):
        return redirect("workspace:inbox", view_slug="my-open")
    if policy.customer_of(request.user) is not None:
        return redirect("/portal/")
    return redirect("workspace:login")


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(
        request, request.POST.get("next") or request.GET.get("next"), reverse("workspace:home")
    )
    if policy.can_use_workspace(request.user):
        return HttpResponseRedirect(next_url)
    form = forms.SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = account_actions.sign_in(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip=request.META.get("REMOTE_ADDR", ""),
                roles=tuple(STAFF_ROLES),
            )
        except ConciergeError as error:
            form.add_error(None, error.message)
            status = 429 if isinstance(error, LimitExceeded) else 400
        else:
            login(request, user)
            return HttpResponseRedirect(next_url)
    elif request.method == "POST":
        status = 400
    return page(request, "workspace/login.html", {"form": form, "next": next_url}, status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("workspace:login")


# --- profile and API tokens -------------------------------------------------


def _profile_page(
    request: HttpRequest,
    *,
    form: forms.ProfileForm | None = None,
    token_form: forms.ApiTokenForm | None = None,
    new_secret: str = "",
    status: int = 200,
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = form or forms.ProfileForm(
        initial={
            "name": user.name,
            "signature": user.signature,
            "availability": user.availability,
            "notify_on_assignment": user.notify_on_assignment,
            "notify_on_customer_reply": user.notify_on_customer_reply,
            "notify_on_mention": user.notify_on_mention,
        }
    )
    context = {
        "form": form,
        "token_form": token_form or forms.ApiTokenForm(),
        "tokens": list(account_services.list_own_tokens(user=user)),
        "new_secret": new_secret,
    }
    return page(request, "workspace/profile.html", context, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _profile_page(request)
    form = forms.ProfileForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            account_actions.update_agent(
                actor=request.user, agent=cast(User, request.user), changes=form.changes()
            )
        except ConciergeError as error:
            forms.apply_error(form, error)
        else:
            messages.success(request, "Profile saved.")
            return redirect("workspace:profile")
    return _profile_page(request, form=form, status=400)


@staff_required
@require_POST
def availability(request: HttpRequest) -> HttpResponse:
    try:
        account_actions.set_availability(
            actor=request.user, availability=request.POST.get("availability", "")
        )
    except ConciergeError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(
        _safe_next(request, request.POST.get("next"), reverse("workspace:home"))
    )


@staff_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = forms.ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = account_actions.create_api_token(
                actor=request.user, name=form.cleaned_data["name"]
            )
        except ConciergeError as error:
            forms.apply_error(form, error)
        else:
            # Rendered, not redirected: the secret must never sit in a session or a URL.
            response = _profile_page(request, new_secret=secret)
            response["Cache-Control"] = "no-store"
            return response
    return _profile_page(request, token_form=form, status=400)


@staff_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    account_actions.revoke_api_token(actor=request.user, token_id=token_id)
    messages.success(request, "Token revoked.")
    return redirect("workspace:profile")


@staff_required
def avatar(request: HttpRequest, agent_id: int) -> HttpResponseBase:
    agent = account_services.get_agent(user=request.user, agent_id=agent_id)
    if not agent.avatar:
        raise NotFound("No avatar.")
    content_type = mimetypes.guess_type(agent.avatar.name)[0] or ""
    if content_type not in SAFE_IMAGE_TYPES:
        raise NotFound("No avatar.")
    response = FileResponse(agent.avatar.open("rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- inbox ----------------------------------------------------------------------


def _page_labels(sort: str) -> tuple[str, str]:
    """(previous, next) link labels: a newest-first list pages back to older tickets."""
    return ("Newer", "Older") if sort.startswith("-") else ("Older", "Newer")


@staff_required
def inbox_default(request: HttpRequest) -> HttpResponse:
    return redirect("workspace:inbox", view_slug="my-open")


def _inbox_filter_form(
    data: Any, view: InboxView, *, agents: list[User], teams: list[Any]
) -> tuple[forms.InboxFilterForm, TicketFilters, str]:
    """The filter bar, the filters to list with, and an error when the bar was not understood.

    Filters the bar cannot apply fall back to the view's own, with the reason shown.
    """
    form = forms.InboxFilterForm(data, view_filters=view.filters, agents=agents, teams=teams)
    if form.is_bound and not form.is_valid():
        problems = " ".join(str(m) for messages_ in form.errors.values() for m in messages_)
        return form, TicketFilters.from_dict(view.filters), f"Filters not applied: {problems}"
    try:
        return form, TicketFilters.from_dict(form.filters()), ""
    except ValidationFailed as failure:
        return (
            form,
            TicketFilters.from_dict(view.filters),
            f"Filters not applied: {failure.message}",
        )


def _select_view(views: list[InboxView], slug: str) -> InboxView:
    view = next((candidate for candidate in views if candidate.slug == slug), None)
    if view is None:
        raise NotFound("No such view.")
    return view


@staff_required
def inbox(request: HttpRequest, view_slug: str) -> HttpResponse:
    user = request.user
    views = ticket_services.inbox_views(user=user)
    view = _select_view(views, view_slug)
    # The user's own views get their own sidebar section and rename / delete controls.
    own_slugs = {candidate.slug for candidate in views if candidate.is_owned_by(user)}
    agents = list(account_services.list_agents(user=user))
    teams = list(account_services.list_teams(user=user))
    filter_form, filters, error = _inbox_filter_form(request.GET, view, agents=agents, teams=teams)
    sort = request.GET.get("sort", "")
    if sort not in SORTS:
        sort = view.sort
    cursor = request.GET.get("cursor", "")
    try:
        result = ticket_services.list_tickets(user=user, filters=filters, sort=sort, cursor=cursor)
    except ValidationFailed as failure:
        error = f"{failure.message} Showing the first page."
        result = ticket_services.list_tickets(user=user, filters=filters, sort=sort)
    previous_label, next_label = _page_labels(sort)
    counts = ticket_services.view_counts(user=user)
    filter_params = filter_form.query_params()
    # Triage labels for the page's rows, one query, when the view shows any.
    labels = ai_services.labels_for_tickets(
        user=user,
        ticket_ids=[ticket.pk for ticket in result.tickets],
        kinds=[key for key in view.columns if key in PREDICTION_COLUMNS],
    )
    context = {
        "view_rows": [(v, counts.get(v.slug, 0)) for v in views if v.slug not in own_slugs],
        "own_view_rows": [(v, counts.get(v.slug, 0)) for v in views if v.slug in own_slugs],
        "view": view,
        "own_view": view.saved_view if view.slug in own_slugs else None,
        "columns": [(key, AVAILABLE_COLUMNS[key]) for key in view.columns],
        "shows_triage": any(key in PREDICTION_COLUMNS for key in view.columns),
        "tickets": result.tickets,
        "rows": [
            (ticket, ticket_cells(ticket, view.columns, labels.get(ticket.pk)))
            for ticket in result.tickets
        ],
        "next_cursor": result.next_cursor,
        "previous_cursor": result.previous_cursor,
        "previous_label": previous_label,
        "next_label": next_label,
        "sort": sort,
        "sorts": [(key, forms.SORT_LABELS.get(key, key)) for key in SORTS],
        "error": error,
        "filter_form": filter_form,
        "filter_params": filter_params,
        "filter_query": urlencode(filter_params),
        "bulk_form": forms.BulkForm(agents=agents, teams=teams),
        "can_bulk_update": policy.is_full_agent(user),
    }
    return page(request, "workspace/inbox.html", context)


@staff_required
@require_POST
def inbox_save_view(request: HttpRequest, view_slug: str) -> HttpResponse:
    """Saves the view being looked at, with the filter bar and sort applied, as the user's own."""
    user = request.user
    view = ticket_services.find_view(user=user, slug=view_slug)
    back = _safe_next(
        request, request.POST.get("next"), reverse("workspace:inbox", args=[view_slug])
    )
    name_form = forms.PersonalViewNameForm(request.POST)
    filter_form = forms.InboxFilterForm(
        request.POST,
        view_filters=view.filters,
        agents=list(account_services.list_agents(user=user)),
        teams=list(account_services.list_teams(user=user)),
    )
    if not name_form.is_valid() or (filter_form.is_bound and not filter_form.is_valid()):
        problems = [
            str(message)
            for form in (name_form, filter_form)
            for messages_ in form.errors.values()
            for message in messages_
        ]
        messages.error(request, "The view was not saved: " + " ".join(problems))
        return HttpResponseRedirect(back)
    sort = request.POST.get("sort", "")
    try:
        saved = ticket_actions.save_saved_view(
            actor=user,
            name=name_form.cleaned_data["name"],
            filters=filter_form.filters(),
            sort=sort if sort in SORTS else view.sort,
            columns=list(view.columns),
            shared=False,
        )
    except ConciergeError as error:
        details = " ".join(
            f"{name}: {'; '.join(msgs)}" for name, msgs in error.field_errors.items()
        )
        messages.error(request, f"The view was not saved: {error.message} {details}".strip())
        return HttpResponseRedirect(back)
    messages.success(request, f"Saved as your view {saved.name}.")
    return redirect("workspace:inbox", view_slug=f"saved-{saved.pk}")


def _saved_view(user: Any, view_id: int) -> SavedView:
    """One of the views the user has in the inbox (shared or their own), or NotFound."""
    saved = ticket_services.saved_views_for(user=user).filter(pk=view_id).first()
    if saved is None:
        raise NotFound("No such view.")
    return saved


@staff_required
@require_POST
def personal_view_rename(request: HttpRequest, view_id: int) -> HttpResponse:
    user = request.user
    saved = _saved_view(user, view_id)
    form = forms.PersonalViewNameForm(request.POST)
    if not form.is_valid():
        problems = " ".join(str(m) for messages_ in form.errors.values() for m in messages_)
        messages.error(request, f"The view was not renamed: {problems}")
    else:
        try:
            ticket_actions.save_saved_view(
                actor=user,
                view=saved,
                name=form.cleaned_data["name"],
                filters=saved.filters,
                sort=saved.sort,
                columns=saved.columns,
                position=saved.position,
            )
        except ValidationFailed as error:
            messages.error(request, f"The view was not renamed: {error.message}")
        else:
            messages.success(request, f"View renamed to {saved.name}.")
    return redirect("workspace:inbox", view_slug=f"saved-{saved.pk}")


@staff_required
@require_POST
def personal_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    user = request.user
    saved = _saved_view(user, view_id)
    ticket_actions.delete_saved_view(actor=user, view=saved)
    messages.success(request, f"View {saved.name} deleted.")
    return redirect("workspace:inbox_default")


@staff_required
@require_POST
def inbox_bulk(request: HttpRequest, view_slug: str) -> HttpResponse:
    user = request.user
    back = _safe_next(
        request, request.POST.get("next"), reverse("workspace:inbox", args=[view_slug])
    )
    form = forms.BulkForm(
        request.POST,
        agents=list(account_services.list_agents(user=user)),
        teams=list(account_services.list_teams(user=user)),
    )
    if not form.is_valid():
        problems = [str(message) for messages_ in form.errors.values() for message in messages_]
        if "ticket_ids" in form.errors:
            problems = ["Select at least one ticket."]
        messages.error(request, "Nothing changed: " + " ".join(problems))
        return HttpResponseRedirect(back)
    try:
        tickets = [
            ticket_services.get_ticket(user=user, ticket_id=pk)
            for pk in form.cleaned_data["ticket_ids"]
        ]
        if form.cleaned_data["action"] == "merge":
            target_id = form.cleaned_data["merge_target"]
            target = next(ticket for ticket in tickets if ticket.pk == target_id)
            ticket_actions.merge_tickets(
                actor=user, sources=[t for t in tickets if t.pk != target_id], target=target
            )
            messages.success(request, f"Merged {len(tickets) - 1} ticket(s) into #{target_id}.")
        else:
            ticket_actions.bulk_update(actor=user, tickets=tickets, changes=form.changes())
            messages.success(request, f"Updated {len(tickets)} ticket(s).")
    except ConciergeError as error:
        details = " ".join(
            f"{name}: {'; '.join(msgs)}" for name, msgs in error.field_errors.items()
        )
        messages.error(request, f"Nothing changed: {error.message} {details}".strip())
    return HttpResponseRedirect(back)


# --- ticket page ------------------------------------------------------------------


@dataclass
class TimelineItem:
    """An entry, or a run of audit events that happened together, in time order."""

    kind: str  # "entry" or "events"
    created_at: datetime
    entry: Entry | None = None
    events: list[AuditEvent] | None = None
    labels: dict[str, str] | None = None

    @property
    def changes(self) -> list[tuple[str, AuditEvent]]:
        """Each audit event with a readable name for its field."""
        labels = self.labels or {}
        return [(labels.get(e.field) or _field_label(e.field), e) for e in self.events or []]


def _field_label(field: str) -> str:
    name = field.removeprefix("custom_fields.")
    return name.replace("_", " ").capitalize()


def build_timeline(
    entries: list[Entry], events: list[AuditEvent], labels: dict[str, str] | None = None
) -> list[TimelineItem]:
    """Merges entries and audit events by time; consecutive events of one actor form one line."""
    merged: list[tuple[datetime, int, int, Entry | AuditEvent]] = sorted(
        [(entry.created_at, 0, entry.pk, entry) for entry in entries]
        + [(event.created_at, 1, event.pk, event) for event in events],
        key=lambda item: item[:3],
    )
    timeline: list[TimelineItem] = []
    run: list[AuditEvent] = []

    def close_run() -> None:
        if run:
            timeline.append(
                TimelineItem("events", run[0].created_at, events=list(run), labels=labels)
            )
            run.clear()

    for *_, item in merged:
        if isinstance(item, AuditEvent):
            if run and _actor_key(run[-1]) != _actor_key(item):
                close_run()
            run.append(item)
        else:
            close_run()
            timeline.append(TimelineItem("entry", item.created_at, entry=item))
    close_run()
    return timeline


def _actor_key(event: AuditEvent) -> tuple[int | None, int | None, str]:
    return (event.actor_id, event.actor_customer_id, event.via)


def _display_value(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _properties_form(
    ticket: Ticket,
    *,
    user: Any,
    data: Any = None,
    agents: list[User],
    teams: list[Any],
    custom_fields: list[Any],
) -> forms.PropertiesForm:
    if ticket.assignee is not None and ticket.assignee not in agents:
        agents = [*agents, ticket.assignee]
    initial = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": str(ticket.assignee_id or ""),
        "team": str(ticket.team_id or ""),
        "tags": " ".join(tag.name for tag in ticket.tags.all()),
        "due_at": ticket.due_at,
        "ccs": ", ".join(
            cc.primary_email for cc in ticket.ccs.prefetch_related("identities") if cc.primary_email
        ),
    }
    return forms.PropertiesForm(
        data,
        initial=initial,
        agents=agents,
        teams=teams,
        custom_fields=custom_fields,
        values=ticket.custom_fields,
    )


def _ticket_context(
    request: HttpRequest,
    ticket: Ticket,
    *,
    composer: forms.ComposerForm | None = None,
    properties: forms.PropertiesForm | None = None,
) -> dict[str, Any]:
    user = request.user
    can_update = policy.can_update_ticket(user, ticket)
    can_reply = policy.can_reply_publicly(user, ticket)
    entries = list(ticket_services.visible_entries(user=user, ticket=ticket))
    events = list(ticket_services.audit_trail(user=user, ticket=ticket))
    agents = list(account_services.list_agents(user=user))
    teams = list(account_services.list_teams(user=user))
    custom_fields = list(ticket_services.list_custom_fields(user=user))
    properties = properties or _properties_form(
        ticket, user=user, agents=agents, teams=teams, custom_fields=custom_fields
    )
    custom_values = [
        (field.label, _display_value(ticket.custom_fields.get(field.key)))
        for field in custom_fields
        if field.key in ticket.custom_fields
    ]
    return {
        "ticket": ticket,
        "timeline": build_timeline(
            entries, events, {f"custom_fields.{field.key}": field.label for field in custom_fields}
        ),
        "entry_count": len(entries),
        "latest_entry_id": max((entry.pk for entry in entries), default=0),
        "can_update": can_update,
        "can_reply": can_reply,
        "composer": composer or forms.ComposerForm(can_reply=can_reply, can_update=can_update),
        "properties": properties,
        "custom_values": custom_values,
        "history": ticket_services.requester_history(user=user, ticket=ticket),
        "requester": ticket.requester,
        "is_closed": ticket.status == Status.CLOSED,
    }


@staff_required
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_services.get_ticket(user=request.user, ticket_id=ticket_id)
    # Opening the ticket is reading what the agent was notified about it: the
    # bell on this page (and, live, on their other tabs) counts what is left.
    automation_actions.mark_notifications_read(actor=request.user, ticket_id=ticket.pk)
    return page(request, "workspace/ticket.html", _ticket_context(request, ticket))


@staff_required
@require_POST
def ticket_add_entry(request: HttpRequest, ticket_id: int) -> HttpResponse:
    user = request.user
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    form = forms.ComposerForm(
        request.POST,
        request.FILES,
        can_reply=policy.can_reply_publicly(user, ticket),
        can_update=policy.can_update_ticket(user, ticket),
    )
    status = 400
    if form.is_valid():
        is_note = form.cleaned_data["kind"] == "note"
        try:
            entry = ticket_actions.add_entry(
                actor=user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                kind=EntryKind.INTERNAL_NOTE if is_note else EntryKind.PUBLIC_REPLY,
                attachments=forms.to_attachments(form.cleaned_data["attachments"]),
                status_after=form.cleaned_data.get("status_after") or None,
                seen_last_entry_id=form.cleaned_data.get("seen_last_entry_id"),
            )
        except ConciergeError as error:
            forms.apply_error(form, error)
            status = error.status
        else:
            messages.success(request, "Note added." if is_note else "Reply sent.")
            return HttpResponseRedirect(
                reverse("workspace:ticket", args=[ticket.pk]) + f"#entry-{entry.pk}"
            )
    if request.FILES.getlist("attachments"):
        form.add_error("attachments", "Files are not kept after an error: attach them again.")
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    return page(
        request,
        "workspace/ticket.html",
        _ticket_context(request, ticket, composer=form),
        status=status,
    )


def _resolve_ccs(user: Any, emails: list[str]) -> tuple[list[Customer], list[str]]:
    """Customers for the CC emails typed; the emails no customer has."""
    found: list[Customer] = []
    unknown: list[str] = []
    for email in emails:
        match = customer_services.find_customer_by_identity(
            user=user, kind=IdentityKind.EMAIL, value=email
        )
        if match is None:
            unknown.append(email)
        else:
            found.append(match)
    return found, unknown


@staff_required
@require_POST
def ticket_properties(request: HttpRequest, ticket_id: int) -> HttpResponse:
    user = request.user
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    policy.require(
        policy.can_update_ticket(user, ticket), "Light agents cannot change ticket properties."
    )
    is_htmx = request.headers.get("HX-Request") == "true"
    agents = list(account_services.list_agents(user=user))
    teams = list(account_services.list_teams(user=user))
    custom_fields = list(ticket_services.list_custom_fields(user=user))
    form = _properties_form(
        ticket,
        user=user,
        data=request.POST,
        agents=agents,
        teams=teams,
        custom_fields=custom_fields,
    )
    saved = False
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        ccs, unknown = _resolve_ccs(user, form.cc_emails())
        if unknown:
            form.add_error(
                "ccs", f"No customer with: {', '.join(unknown)}. Add them as customers first."
            )
        else:
            changes: dict[str, Any] = {
                "status": data["status"],
                "priority": data["priority"],
                "assignee": form.agents_by_id.get(data["assignee"] or ""),
                "team": form.teams_by_id.get(data["team"] or ""),
                "tags": forms.split_tags(data["tags"]),
                "due_at": data["due_at"],
                "ccs": ccs,
            }
            if custom := form.custom_field_values(ticket.custom_fields):
                changes["custom_fields"] = custom
            try:
                ticket_actions.update_ticket(actor=user, ticket=ticket, changes=changes)
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                saved = True
    if saved and not is_htmx:
        messages.success(request, "Ticket updated.")
        return redirect("workspace:ticket", ticket_id=ticket.pk)
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    context = _ticket_context(request, ticket, properties=None if saved else form)
    context["properties_saved"] = saved
    if is_htmx:
        # The panel and, out of band, the header status and the timeline's new events.
        return page(
            request,
            "workspace/_ticket_properties_response.html",
            context,
            status=200 if saved else status,
        )
    return page(request, "workspace/ticket.html", context, status=status)


@staff_required
@require_POST
def ticket_quick_action(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """One-click changes from the header and keyboard: assign to me, solve."""
    user = request.user
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    action = request.POST.get("action")
    quick_changes: dict[str, dict[str, Any]] = {
        "assign_me": {"assignee": user},
        "solve": {"status": Status.SOLVED},
    }
    changes = quick_changes.get(action or "", {})
    if not changes:
        messages.error(request, "Unknown action.")
    else:
        try:
            ticket_actions.update_ticket(actor=user, ticket=ticket, changes=changes)
        except ConciergeError as error:
            messages.error(request, f"Nothing changed: {error.message}")
        else:
            messages.success(
                request, "Assigned to you." if action == "assign_me" else "Ticket solved."
            )
    return redirect("workspace:ticket", ticket_id=ticket.pk)


@staff_required
@require_http_methods(["GET", "POST"])
def ticket_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    customer_id = request.GET.get("customer") or request.POST.get("customer") or ""
    if not customer_id.isdigit():
        return page(request, "workspace/ticket_new.html", {"customer": None})
    customer = customer_services.get_customer(user=user, customer_id=int(customer_id))
    agents = list(account_services.list_agents(user=user))
    teams = list(account_services.list_teams(user=user))
    custom_fields = list(ticket_services.list_custom_fields(user=user))
    form = forms.NewTicketForm(
        request.POST or None,
        request.FILES or None,
        agents=agents,
        teams=teams,
        custom_fields=custom_fields,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = ticket_actions.create_ticket(
                    actor=user,
                    requester=customer,
                    subject=data["subject"],
                    body=data["body"],
                    channel=data["channel"],
                    priority=data["priority"],
                    assignee=form.agents_by_id.get(data["assignee"] or ""),
                    team=form.teams_by_id.get(data["team"] or ""),
                    tags=forms.split_tags(data["tags"]),
                    custom_fields={
                        k: v
                        for k, v in form.custom_field_values({}).items()
                        if v not in ("", [], None)
                    },
                    attachments=forms.to_attachments(data["attachments"]),
                )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, f"Ticket #{ticket.pk} created.")
                return redirect("workspace:ticket", ticket_id=ticket.pk)
    return page(
        request, "workspace/ticket_new.html", {"customer": customer, "form": form}, status=status
    )


# --- attachments --------------------------------------------------------------------


def download_attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """Serves an attachment to whoever may read its entry (staff here; the portal shares it).

    Always as a download with sniffing off, so an uploaded file can never
    render as a page on our origin.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        attachment = ticket_services.get_attachment(user=request.user, attachment_id=attachment_id)
        handle = attachment.file.open("rb")
    except NotFound as error:
        return error_page(request, error)
    except FileNotFoundError:
        return error_page(request, NotFound("The file is missing from storage."))
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- search -----------------------------------------------------------------------


@staff_required
def search(request: HttpRequest) -> HttpResponse:
    user = request.user
    query = request.GET.get("q", "").strip()[:200]
    if query.lstrip("#").isdigit():
        try:
            ticket = ticket_services.get_ticket(user=user, ticket_id=int(query.lstrip("#")))
        except NotFound:
            pass
        else:
            return redirect("workspace:ticket", ticket_id=ticket.pk)
    # One search service for tickets, customers and articles (words and meaning).
    hits_by_kind: dict[str, list[SearchHit]] = {"ticket": [], "customer": [], "article": []}
    error = ""
    if query:
        try:
            for hit in search_services.search(user=user, query=query, limit=60):
                hits_by_kind[hit.kind].append(hit)
        except ValidationFailed as failure:
            error = failure.message
    return page(
        request,
        "workspace/search.html",
        {
            "query": query,
            "error": error,
            "ticket_hits": hits_by_kind["ticket"],
            "customer_hits": hits_by_kind["customer"],
            "article_hits": hits_by_kind["article"],
        },
    )


# --- customers and organizations ------------------------------------------------------


@staff_required
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    paginator = Paginator(customer_services.list_customers(user=request.user, text=query), 50)
    customers = paginator.get_page(request.GET.get("page"))
    return page(request, "workspace/customers.html", {"query": query, "customers": customers})


def _customer_page(
    request: HttpRequest,
    customer: Customer,
    *,
    form: forms.CustomerForm | None = None,
    merge_form: forms.MergeCustomerForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    organizations = list(customer_services.list_organizations(user=user))
    form = form or forms.CustomerForm(
        organizations=organizations,
        initial={
            "name": customer.name,
            "organization": str(customer.organization_id or ""),
            "language": customer.language,
            "time_zone": customer.time_zone,
            "notes": customer.notes,
            "tags": " ".join(tag.name for tag in customer.tags.all()),
        },
    )
    tickets = ticket_services.list_tickets(
        user=user, filters=TicketFilters(requester_id=customer.pk), page_size=50
    )
    context = {
        "customer": customer,
        "form": form,
        "merge_form": merge_form or forms.MergeCustomerForm(),
        "tickets": tickets.tickets,
        "has_more_tickets": tickets.next_cursor is not None,
        "can_edit": policy.can_edit_customers(user),
    }
    return page(request, "workspace/customer.html", context, status=status)


@staff_required
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_services.get_customer(user=request.user, customer_id=customer_id)
    if customer.merged_into_id:
        messages.info(request, f"{customer.name} was merged into this customer.")
        return redirect("workspace:customer", customer_id=customer.merged_into_id)
    return _customer_page(request, customer)


@staff_required
@require_POST
def customer_edit(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = request.user
    customer = customer_services.get_customer(user=user, customer_id=customer_id)
    form = forms.CustomerForm(
        request.POST, organizations=list(customer_services.list_organizations(user=user))
    )
    status = 400
    if form.is_valid():
        try:
            customer_actions.update_customer(actor=user, customer=customer, changes=form.changes())
        except ConciergeError as error:
            forms.apply_error(form, error)
            status = error.status
        else:
            messages.success(request, "Customer saved.")
            return redirect("workspace:customer", customer_id=customer.pk)
        customer = customer_services.get_customer(user=user, customer_id=customer_id)
    return _customer_page(request, customer, form=form, status=status)


@staff_required
@require_POST
def customer_merge(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = request.user
    source = customer_services.get_customer(user=user, customer_id=customer_id)
    form = forms.MergeCustomerForm(request.POST)
    status = 400
    if form.is_valid():
        wanted = form.cleaned_data["target"].strip()
        if wanted.isdigit():
            target = customer_services.list_customers(user=user).filter(pk=int(wanted)).first()
        else:
            target = customer_services.find_customer_by_identity(
                user=user, kind=IdentityKind.EMAIL, value=wanted
            )
        if target is None:
            form.add_error("target", "No customer with this ID or email.")
        else:
            try:
                customer_actions.merge_customers(actor=user, source=source, target=target)
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, f"{source.name} was merged into {target.name}.")
                return redirect("workspace:customer", customer_id=target.pk)
    return _customer_page(request, source, merge_form=form, status=status)


@staff_required
def organization_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    paginator = Paginator(customer_services.list_organizations(user=request.user, text=query), 50)
    return page(
        request,
        "workspace/organizations.html",
        {"query": query, "organizations": paginator.get_page(request.GET.get("page"))},
    )


@staff_required
def organization_detail(request: HttpRequest, organization_id: int) -> HttpResponse:
    user = request.user
    organization = customer_services.get_organization(user=user, organization_id=organization_id)
    members = list(
        customer_services.list_customers(user=user, organization_id=organization.pk)[:100]
    )
    tickets = ticket_services.list_tickets(
        user=user, filters=TicketFilters(organization_id=organization.pk), page_size=50
    ).tickets
    context = {"organization": organization, "members": members, "tickets": tickets}
    return page(request, "workspace/organization.html", context)
