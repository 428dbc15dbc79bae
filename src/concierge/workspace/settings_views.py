"""Desk settings pages (admins): agents, teams, custom fields, shared views, organizations."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from concierge.accounts import actions as account_actions
from concierge.accounts import services as account_services
from concierge.core.errors import ConciergeError, NotFound
from concierge.customers import actions as customer_actions
from concierge.customers import services as customer_services
from concierge.tickets import actions as ticket_actions
from concierge.tickets import services as ticket_services
from concierge.tickets.services import AVAILABLE_COLUMNS, DEFAULT_COLUMNS, TicketFilters
from concierge.workspace import forms
from concierge.workspace.access import page, settings_required


@settings_required
def settings_home(request: HttpRequest) -> HttpResponse:
    return redirect("workspace:settings_agents")


# --- agents -------------------------------------------------------------------


def _send_invitation(request: HttpRequest, email: str) -> None:
    """Emails the new agent a link to choose their password (Django's reset flow)."""
    reset = forms.StaffPasswordResetForm({"email": email})
    if reset.is_valid():
        reset.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="workspace/email/invitation_subject.txt",
            email_template_name="workspace/email/invitation.txt",
            from_email=django_settings.DEFAULT_FROM_EMAIL,
            extra_email_context={"inviter_name": str(request.user)},
        )


@settings_required
@require_http_methods(["GET", "POST"])
def agents(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = forms.AgentCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                agent = account_actions.create_agent(
                    actor=user, email=data["email"], name=data["name"], role=data["role"]
                )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                if data["send_invite"]:
                    _send_invitation(request, agent.email)
                messages.success(
                    request,
                    f"{agent.name} was added" + (" and invited." if data["send_invite"] else "."),
                )
                return redirect("workspace:settings_agents")
    agent_rows = [
        (
            agent,
            forms.AgentUpdateForm(
                initial={
                    "role": agent.role,
                    "capacity": agent.capacity,
                    "is_active": agent.is_active,
                },
                prefix=f"agent-{agent.pk}",
            ),
        )
        for agent in account_services.list_agents(user=user, include_inactive=True)
    ]
    return page(
        request,
        "workspace/settings/agents.html",
        {"form": form, "agent_rows": agent_rows},
        status=status,
    )


@settings_required
@require_POST
def agent_update(request: HttpRequest, agent_id: int) -> HttpResponse:
    user = request.user
    agent = account_services.get_agent(user=user, agent_id=agent_id)
    form = forms.AgentUpdateForm(request.POST, prefix=f"agent-{agent.pk}")
    if not form.is_valid():
        problems = " ".join(str(m) for msgs in form.errors.values() for m in msgs)
        messages.error(request, f"{agent.name} was not changed: {problems}")
        return redirect("workspace:settings_agents")
    try:
        account_actions.update_agent(actor=user, agent=agent, changes=dict(form.cleaned_data))
    except ConciergeError as error:
        messages.error(request, f"{agent.name} was not changed: {error.message}")
    else:
        messages.success(request, f"{agent.name} saved.")
    return redirect("workspace:settings_agents")


# --- teams ----------------------------------------------------------------------


@settings_required
@require_http_methods(["GET", "POST"])
def teams(request: HttpRequest, team_id: int | None = None) -> HttpResponse:
    user = request.user
    team = None
    if team_id is not None:
        team = account_services.list_teams(user=user).filter(pk=team_id).first()
        if team is None:
            raise NotFound("No such team.")
    agents = list(account_services.list_agents(user=user))
    initial = (
        {
            "name": team.name,
            "description": team.description,
            "members": [m.pk for m in team.members.all()],
        }
        if team
        else {}
    )
    form = forms.TeamForm(request.POST or None, initial=initial, agents=agents)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = account_actions.save_team(
                    actor=user,
                    name=data["name"],
                    description=data["description"],
                    member_ids=data["members"],
                    team=team,
                )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, f"Team {saved.name} saved.")
                return redirect("workspace:settings_teams")
    context = {"form": form, "team": team, "teams": list(account_services.list_teams(user=user))}
    return page(request, "workspace/settings/teams.html", context, status=status)


@settings_required
@require_http_methods(["GET", "POST"])
def team_delete(request: HttpRequest, team_id: int) -> HttpResponse:
    """Asks first (GET), then deletes (POST); the team's tickets stay, without a team."""
    user = request.user
    team = account_services.list_teams(user=user).filter(pk=team_id).first()
    if team is None:
        raise NotFound("No such team.")
    if request.method == "POST":
        try:
            account_actions.delete_team(actor=user, team=team)
        except ConciergeError as error:
            messages.error(request, f"Team {team.name} was not deleted: {error.message}")
            return redirect("workspace:settings_team", team_id=team.pk)
        messages.success(request, f"Team {team.name} deleted. Its tickets now have no team.")
        return redirect("workspace:settings_teams")
    ticket_count = ticket_services.count_tickets(
        user=user, filters=TicketFilters(team=str(team.pk))
    )
    return page(
        request,
        "workspace/settings/team_delete.html",
        {"team": team, "ticket_count": ticket_count},
    )


# --- custom fields ------------------------------------------------------------------


@settings_required
def fields(request: HttpRequest) -> HttpResponse:
    custom_fields = list(
        ticket_services.list_custom_fields(user=request.user, include_inactive=True)
    )
    return page(request, "workspace/settings/fields.html", {"custom_fields": custom_fields})


@settings_required
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, field_id: int | None = None) -> HttpResponse:
    user = request.user
    field = None
    if field_id is not None:
        field = (
            ticket_services.list_custom_fields(user=user, include_inactive=True)
            .filter(pk=field_id)
            .first()
        )
        if field is None:
            raise NotFound("No such custom field.")
    initial = (
        {
            "key": field.key,
            "label": field.label,
            "field_type": field.field_type,
            "choices": "\n".join(field.choices),
            "description": field.description,
            "is_required_on_solve": field.is_required_on_solve,
            "is_customer_visible": field.is_customer_visible,
            "is_active": field.is_active,
            "position": field.position,
            "detect_from_messages": field.detect_from_messages,
        }
        if field
        else {}
    )
    form = forms.CustomFieldForm(
        request.POST or None,
        initial=initial,
        options=field.choices if field else (),
        phrases=field.detection_phrases if field else None,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = ticket_actions.save_custom_field(
                    actor=user, field=field, **form.action_kwargs()
                )
            except ConciergeError as error:
                form.apply_domain_error(error)
                status = error.status
            else:
                messages.success(request, f"Field {saved.label} saved.")
                return redirect("workspace:settings_fields")
    return page(
        request, "workspace/settings/field_form.html", {"form": form, "field": field}, status=status
    )


@settings_required
@require_POST
def field_delete(request: HttpRequest, field_id: int) -> HttpResponse:
    field = (
        ticket_services.list_custom_fields(user=request.user, include_inactive=True)
        .filter(pk=field_id)
        .first()
    )
    if field is None:
        raise NotFound("No such custom field.")
    ticket_actions.delete_custom_field(actor=request.user, field=field)
    messages.success(request, f"Field {field.label} deleted.")
    return redirect("workspace:settings_fields")


# --- shared views ---------------------------------------------------------------------


@settings_required
def views(request: HttpRequest) -> HttpResponse:
    shared = list(ticket_services.list_shared_views(user=request.user))
    return page(
        request,
        "workspace/settings/views.html",
        {"saved_views": shared, "column_labels": AVAILABLE_COLUMNS},
    )


@settings_required
@require_http_methods(["GET", "POST"])
def view_edit(request: HttpRequest, view_id: int | None = None) -> HttpResponse:
    user = request.user
    view = None
    if view_id is not None:
        view = ticket_services.list_shared_views(user=user).filter(pk=view_id).first()
        if view is None:
            raise NotFound("No such view.")
    initial = (
        forms.SavedViewForm.initial_from(view)
        if view
        else {"columns": DEFAULT_COLUMNS, "sort": "-updated_at"}
    )
    form = forms.SavedViewForm(
        request.POST or None,
        initial=initial,
        agents=list(account_services.list_agents(user=user)),
        teams=list(account_services.list_teams(user=user)),
        custom_fields=list(ticket_services.list_custom_fields(user=user)),
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = ticket_actions.save_saved_view(
                    actor=user, view=view, **form.action_kwargs()
                )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, f"View {saved.name} saved.")
                return redirect("workspace:settings_views")
    return page(
        request,
        "workspace/settings/view_form.html",
        {"form": form, "saved_view": view},
        status=status,
    )


@settings_required
@require_POST
def view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = ticket_services.list_shared_views(user=request.user).filter(pk=view_id).first()
    if view is None:
        raise NotFound("No such view.")
    ticket_actions.delete_saved_view(actor=request.user, view=view)
    messages.success(request, f"View {view.name} deleted.")
    return redirect("workspace:settings_views")


# --- organizations ------------------------------------------------------------------------


@settings_required
def organizations(request: HttpRequest) -> HttpResponse:
    rows = list(customer_services.list_organizations(user=request.user)[:500])
    return page(request, "workspace/settings/organizations.html", {"organizations": rows})


@settings_required
@require_POST
def organization_visibility(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = customer_services.get_organization(
        user=request.user, organization_id=organization_id
    )
    members_see_all = request.POST.get("members_see_all_requests") == "on"
    customer_actions.set_organization_visibility(
        actor=request.user, organization=organization, members_see_all=members_see_all
    )
    state = (
        "see all of the organization's requests"
        if members_see_all
        else "see only their own requests"
    )
    messages.success(request, f"Members of {organization.name} now {state}.")
    return redirect("workspace:settings_organizations")
