"""Routing in the workspace: rules, business hours and assignment settings (admins), queues (staff).

Every decision is the automation domain's (``concierge.automation.services`` /
``actions``); these views parse forms, call one of them and render.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from concierge.accounts import services as account_services
from concierge.automation import actions, rules, services
from concierge.automation.models import WEEKDAYS, AssignmentStrategy, RuleEvent
from concierge.core.errors import ConciergeError, NotFound
from concierge.tickets import services as ticket_services
from concierge.workspace.access import page, settings_required, staff_required
from concierge.workspace.automation_forms import (
    ALL_OPERATORS,
    AgentSkillsForm,
    BusinessHoursForm,
    RuleBuilder,
    RuleForm,
    RuleTestForm,
    TeamRoutingForm,
    apply_domain_error,
)

# --- routing rules ---------------------------------------------------------------------------


@settings_required
def rule_list(request: HttpRequest) -> HttpResponse:
    # Each action as a person reads it ("Set team to Billing"), not its JSON type.
    rules_in_order = list(services.list_rules(user=request.user))
    described = services.describe_actions([rule.actions for rule in rules_in_order])
    rule_rows = list(zip(rules_in_order, described, strict=True))
    return page(
        request,
        "workspace/settings/routing_rules.html",
        {"rules": rule_rows, "event_choices": RuleEvent.choices, "test_form": RuleTestForm()},
    )


def _reference(user: Any) -> dict[str, Any]:
    """What a rule can name, with ids: shown beside the JSON editors."""
    from concierge.tickets.models import CustomField

    reference: dict[str, Any] = {
        "fields": [(name, ", ".join(operators)) for name, (operators, _) in rules.FIELDS.items()],
        "action_types": rules.ACTION_TYPES,
        "field_names": list(rules.FIELDS),
        "operators": ALL_OPERATORS,
        "priorities": rules.PRIORITIES,
        "notify_channels": rules.NOTIFY_CHANNELS,
        "teams": account_services.list_teams(user=user),
        "agents": account_services.list_agents(user=user).filter(role__in=("admin", "agent")),
        "business_hours": services.list_business_hours(user=user),
        "custom_fields": CustomField.objects.filter(is_active=True),
        "mailboxes": [],
        "chat_channels": [],
    }
    try:
        from concierge.mail.models import Mailbox

        reference["mailboxes"] = Mailbox.objects.order_by("name")
    except ImportError:  # pragma: no cover
        pass
    try:
        from concierge.chat.models import ChatChannel

        reference["chat_channels"] = ChatChannel.objects.order_by("name")
    except ImportError:  # pragma: no cover
        pass
    return reference


@settings_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    """The rule editor: a form of condition and action rows, or the raw JSON (``?editor=json``).

    Both post the same JSON to ``actions.save_rule``; the form builds it from
    its rows (``RuleBuilder``) and shows the domain's errors on the row and
    part they name. A rule the rows cannot show (nested groups) opens as JSON.
    """
    user = request.user
    rule = services.get_rule(user=user, rule_id=rule_id) if rule_id is not None else None
    if request.method == "POST":
        # The form's rows only when the builder sent them; a plain post is JSON.
        use_json = request.POST.get("editor") != "form"
    else:
        use_json = request.GET.get("editor") == "json"
    builder: RuleBuilder | None = None
    notice = ""
    if not use_json:
        if request.method == "POST":
            builder = RuleBuilder.from_post(request.POST)
        elif rule is not None:
            builder = RuleBuilder.from_rule(rule.conditions, rule.actions)
            if builder is None:
                use_json = True
                notice = "This rule uses nested condition groups: edit it as JSON."
        else:
            builder = RuleBuilder.blank()
    status = 200
    if request.method == "POST":
        data = request.POST.copy()
        adding = request.POST.get("builder_add", "")
        if builder is not None:
            conditions, rule_actions = builder.document()
            data["conditions"] = json.dumps(conditions)
            data["actions"] = json.dumps(rule_actions)
        form = RuleForm(data)
        if builder is not None and adding in ("condition", "action"):
            builder.add_row(adding)  # another empty row; nothing is saved yet
            return page(
                request,
                "workspace/settings/routing_rule_form.html",
                {"form": form, "rule": rule, "builder": builder, **_reference(user)},
            )
        status = 400
        if form.is_valid():
            cleaned = form.cleaned_data
            try:
                saved = actions.save_rule(
                    actor=user,
                    rule=rule,
                    name=cleaned["name"],
                    description=cleaned["description"],
                    events=list(cleaned["events"]),
                    conditions=cleaned["conditions"],
                    actions=cleaned["actions"],
                    is_active=cleaned["is_active"],
                )
            except ConciergeError as error:
                if builder is not None:
                    builder.apply_errors(error.field_errors)
                    form.add_error(None, error.message)
                else:
                    apply_domain_error(form, error)
                status = error.status
            else:
                messages.success(request, f"Rule “{saved.name}” saved.")
                return redirect("workspace:settings_routing")
    else:
        initial = RuleForm.initial_for(rule) if rule else {
            "events": [RuleEvent.TICKET_CREATED], "conditions": '{"all": []}', "is_active": True,
        }  # fmt: skip
        form = RuleForm(initial=initial)
    context = {"form": form, "rule": rule, "builder": builder, "notice": notice}
    return page(
        request,
        "workspace/settings/routing_rule_form.html",
        {**context, **_reference(user)},
        status=status,
    )


@settings_required
@require_POST
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = services.get_rule(user=request.user, rule_id=rule_id)
    direction = request.POST.get("direction", "")
    try:
        actions.move_rule(actor=request.user, rule=rule, direction=direction)
    except ConciergeError as error:
        messages.error(request, error.message)
    return redirect("workspace:settings_routing")


@settings_required
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = services.get_rule(user=request.user, rule_id=rule_id)
    rule = actions.set_rule_active(actor=request.user, rule=rule, is_active=not rule.is_active)
    state = "on" if rule.is_active else "off"
    messages.success(request, f"Rule “{rule.name}” turned {state}.")
    return redirect("workspace:settings_routing")


@settings_required
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = services.get_rule(user=request.user, rule_id=rule_id)
    actions.delete_rule(actor=request.user, rule=rule)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect("workspace:settings_routing")


@settings_required
def rule_test(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    """What would fire on an existing ticket: every active rule in order, or one rule."""
    user = request.user
    rule = services.get_rule(user=user, rule_id=rule_id) if rule_id is not None else None
    form = RuleTestForm(request.GET or None)
    previews = None
    ticket = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                ticket = ticket_services.get_ticket(
                    user=user, ticket_id=form.cleaned_data["ticket"]
                )
            except NotFound:
                form.add_error("ticket", "No such ticket.")
            else:
                previews = services.preview_rules(
                    user=user,
                    ticket=ticket,
                    event=form.cleaned_data["event"],
                    rules=[rule] if rule is not None else None,
                )
        else:
            status = 400
    return page(
        request,
        "workspace/settings/routing_test.html",
        {
            "form": form,
            "rule": rule,
            "ticket": ticket,
            "previews": previews,
            "labels": services.predicted_labels(ticket.pk) if ticket else {},
        },
        status=status,
    )


# --- business hours ----------------------------------------------------------------------------


@settings_required
def business_hours_list(request: HttpRequest) -> HttpResponse:
    return page(
        request,
        "workspace/settings/business_hours.html",
        {"hours_list": services.list_business_hours(user=request.user), "weekdays": WEEKDAYS},
    )


@settings_required
@require_http_methods(["GET", "POST"])
def business_hours_edit(request: HttpRequest, hours_id: int | None = None) -> HttpResponse:
    user = request.user
    hours = services.get_business_hours(user=user, hours_id=hours_id) if hours_id else None
    if request.method == "POST":
        form = BusinessHoursForm(request.POST)
    else:
        form = BusinessHoursForm(initial=BusinessHoursForm.initial_for(hours) if hours else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = actions.save_business_hours(
                    actor=user,
                    hours=hours,
                    name=form.cleaned_data["name"],
                    timezone=form.cleaned_data["timezone"].strip(),
                    schedule=form.schedule(),
                    holidays=form.holiday_list(),
                )
            except ConciergeError as error:
                apply_domain_error(form, error)
                status = error.status
            else:
                messages.success(request, f"Business hours “{saved.name}” saved.")
                return redirect("workspace:settings_business_hours")
    return page(
        request,
        "workspace/settings/business_hours_form.html",
        {"form": form, "hours": hours},
        status=status,
    )


# --- assignment: team strategies, agent skills, queues --------------------------------------------


@settings_required
def assignment_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    queues = services.team_queues(user=user)
    profiles = services.agent_profiles(user=user)
    team_rows = [
        (
            queue,
            TeamRoutingForm(
                initial={
                    "strategy": queue.strategy,
                    "require_skill_match": queue.require_skill_match,
                },
                prefix=f"team-{queue.team.pk}",
            ),
        )
        for queue in queues
    ]
    agent_rows = []
    for agent in account_services.list_agents(user=user).filter(role__in=("admin", "agent")):
        profile = profiles.get(agent.pk)
        agent_rows.append(
            (
                agent,
                AgentSkillsForm(
                    initial={
                        "skills": ", ".join(profile.skills) if profile else "",
                        "languages": ", ".join(profile.languages) if profile else "",
                    },
                    prefix=f"agent-{agent.pk}",
                ),
            )
        )
    return page(
        request,
        "workspace/settings/assignment.html",
        {"team_rows": team_rows, "agent_rows": agent_rows},
    )


@settings_required
@require_POST
def team_routing_update(request: HttpRequest, team_id: int) -> HttpResponse:
    team = account_services.list_teams(user=request.user).filter(pk=team_id).first()
    if team is None:
        raise NotFound("No such team.")
    form = TeamRoutingForm(request.POST, prefix=f"team-{team.pk}")
    if not form.is_valid():
        messages.error(request, f"{team.name} was not changed: choose a known strategy.")
        return redirect("workspace:settings_assignment")
    try:
        actions.save_team_routing(actor=request.user, team=team, **form.cleaned_data)
    except ConciergeError as error:
        messages.error(request, f"{team.name} was not changed: {error.message}")
    else:
        label = dict(AssignmentStrategy.choices)[form.cleaned_data["strategy"]]
        messages.success(request, f"{team.name}: {label}.")
    return redirect("workspace:settings_assignment")


@settings_required
@require_POST
def agent_skills_update(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = account_services.get_agent(user=request.user, agent_id=agent_id)
    form = AgentSkillsForm(request.POST, prefix=f"agent-{agent.pk}")
    if not form.is_valid():
        messages.error(request, f"{agent.name} was not changed: the lists are too long.")
        return redirect("workspace:settings_assignment")
    try:
        actions.save_agent_profile(
            actor=request.user,
            agent=agent,
            skills=form.cleaned_data["skills"],
            languages=form.cleaned_data["languages"],
        )
    except ConciergeError as error:
        messages.error(request, f"{agent.name} was not changed: {error.message}")
    else:
        messages.success(request, f"{agent.name}'s skills saved.")
    return redirect("workspace:settings_assignment")


@staff_required
def queues(request: HttpRequest) -> HttpResponse:
    """Each team's queue: how many tickets wait for an agent and since when."""
    return page(
        request, "workspace/queues.html", {"queues": services.team_queues(user=request.user)}
    )


# --- in-app notifications (every agent, their own) --------------------------------------------


@staff_required
def notification_list(request: HttpRequest) -> HttpResponse:
    items = services.notifications(user=request.user)
    return page(request, "workspace/notifications.html", {"notifications": items})


@staff_required
@require_POST
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Marks the notification read and opens its ticket, or the page it links to (an
    article's flags), or the list when it has neither."""
    item = services.get_notification(user=request.user, notification_id=notification_id)
    actions.mark_notifications_read(actor=request.user, notification_id=notification_id)
    if item is not None and item.ticket_id:
        return redirect(reverse("workspace:ticket", args=[item.ticket_id]))
    if item is not None and item.link.startswith("/") and not item.link.startswith("//"):
        return redirect(item.link)  # a path the server built (notify_in_app checks it)
    return redirect("workspace:notifications")


@staff_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = actions.mark_notifications_read(actor=request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
    return redirect("workspace:notifications")


@staff_required
@require_POST
def notification_read_ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Marks the agent's notices about one ticket read (live.js: one arrived on that ticket's page).

    The agent is looking at the ticket, so the notice needs no bell; the
    action tells the agent's other tabs the new unread count. Only the
    agent's own rows are touched, so any ticket id is safe to accept.
    """
    changed = actions.mark_notifications_read(actor=request.user, ticket_id=ticket_id)
    return JsonResponse({"marked_read": changed})


urlpatterns: list[URLPattern] = [
    path("queues/", queues, name="queues"),
    path("notifications/", notification_list, name="notifications"),
    path("notifications/read/", notification_read_all, name="notifications_read_all"),
    path(
        "notifications/read/ticket/<int:ticket_id>/",
        notification_read_ticket,
        name="notifications_read_ticket",
    ),
    path("notifications/<int:notification_id>/open/", notification_open, name="notification_open"),
    path("settings/routing/", rule_list, name="settings_routing"),
    path("settings/routing/new/", rule_edit, name="settings_routing_new"),
    path("settings/routing/test/", rule_test, name="settings_routing_test"),
    path("settings/routing/<int:rule_id>/", rule_edit, name="settings_routing_rule"),
    path("settings/routing/<int:rule_id>/test/", rule_test, name="settings_routing_rule_test"),
    path("settings/routing/<int:rule_id>/move/", rule_move, name="settings_routing_move"),
    path("settings/routing/<int:rule_id>/toggle/", rule_toggle, name="settings_routing_toggle"),
    path("settings/routing/<int:rule_id>/delete/", rule_delete, name="settings_routing_delete"),
    path("settings/business-hours/", business_hours_list, name="settings_business_hours"),
    path("settings/business-hours/new/", business_hours_edit, name="settings_business_hours_new"),
    path(
        "settings/business-hours/<int:hours_id>/",
        business_hours_edit,
        name="settings_business_hours_edit",
    ),
    path("settings/assignment/", assignment_settings, name="settings_assignment"),
    path(
        "settings/assignment/teams/<int:team_id>/",
        team_routing_update,
        name="settings_assignment_team",
    ),
    path(
        "settings/assignment/agents/<int:agent_id>/",
        agent_skills_update,
        name="settings_assignment_agent",
    ),
]
