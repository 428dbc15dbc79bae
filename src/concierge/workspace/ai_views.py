"""AI triage in the workspace: the ticket's prediction panel, corrections, category settings.

Every decision is the AI domain's (``concierge.ai.services`` / ``actions``);
these views parse forms, call one of them and render.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from concierge.ai import actions, services
from concierge.ai.category_templates import TEMPLATE_SETS
from concierge.ai.models import PredictionKind
from concierge.core import policy
from concierge.core.errors import ConciergeError, NotFound
from concierge.tickets import services as ticket_services
from concierge.workspace.access import page, settings_required, staff_required
from concierge.workspace.forms import WorkspaceForm, apply_error

# The order kinds are shown in on the ticket page.
PANEL_KINDS = (
    PredictionKind.INTENT,
    PredictionKind.SENTIMENT,
    PredictionKind.URGENCY,
    PredictionKind.LANGUAGE,
    PredictionKind.ABUSE,
    PredictionKind.SPAM,
)


def triage_panel_context(user: Any, ticket: Any) -> dict[str, Any]:
    """What ``workspace/_triage_panel.html`` needs (also used by the ticket page's tag)."""
    predictions = services.ticket_predictions(user=user, ticket=ticket)
    can_correct = policy.can_correct_prediction(user, ticket)
    rows = []
    for kind in PANEL_KINDS:
        prediction = predictions.get(kind)
        if prediction is None:
            continue
        choices = services.label_choices(kind) if can_correct else []
        rows.append(
            {
                "kind": kind,
                "kind_label": PredictionKind(kind).label,
                "prediction": prediction,
                "confidence_percent": round(prediction.confidence * 100),
                "choices": [choice for choice in choices if choice != prediction.effective_label],
            }
        )
    rows.extend(_entity_rows(predictions, can_correct))
    return {
        "ticket": ticket,
        "triage_rows": rows,
        "can_view_triage": policy.can_view_predictions(user),
        "can_correct_triage": can_correct,
    }


def _entity_rows(predictions: dict[str, Any], can_correct: bool) -> list[dict[str, Any]]:
    """A row per custom field detected in the customer's messages, named by the field."""
    detected = [p for p in predictions.values() if p.kind == PredictionKind.ENTITY]
    field_labels = services.field_labels([p.field_key for p in detected])
    rows = []
    for prediction in sorted(detected, key=lambda p: field_labels.get(p.field_key, p.field_key)):
        choices = (
            services.label_choices(prediction.kind, prediction.field_key) if can_correct else []
        )
        rows.append(
            {
                "kind": prediction.kind,
                "kind_label": field_labels.get(prediction.field_key, prediction.field_key),
                "prediction": prediction,
                "confidence_percent": round(prediction.confidence * 100),
                "choices": [choice for choice in choices if choice != prediction.effective_label],
            }
        )
    return rows


@staff_required
def ticket_triage_panel(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_services.get_ticket(user=request.user, ticket_id=ticket_id)
    return render(
        request, "workspace/_triage_panel.html", triage_panel_context(request.user, ticket)
    )


@staff_required
@require_POST
def ticket_triage_correct(request: HttpRequest, ticket_id: int, prediction_id: int) -> HttpResponse:
    """One click: the chosen label (a button's value, or the select) becomes the label."""
    user = request.user
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    prediction = services.get_prediction(user=user, prediction_id=prediction_id)
    if prediction.ticket_id != ticket.pk:
        raise NotFound("No such prediction.")
    error = ""
    status = 200
    try:
        actions.correct_prediction(
            actor=user, prediction=prediction, label=request.POST.get("label", "")
        )
    except ConciergeError as failure:
        if failure.status in (403, 404):
            raise
        error = " ".join([failure.message, *sum(failure.field_errors.values(), [])])
        status = failure.status
    saved = (
        "Field value set."
        if prediction.kind == PredictionKind.ENTITY
        else "Correction saved; it will train the next model."
    )
    if request.headers.get("HX-Request"):
        context = triage_panel_context(user, ticket)
        context["triage_error"] = error
        context["triage_saved"] = "" if error else saved
        return render(request, "workspace/_triage_panel.html", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, saved)
    return HttpResponseRedirect(reverse("workspace:ticket", args=[ticket.pk]) + "#triage-panel")


# --- settings: categories and the model ------------------------------------------------------


class CategoryForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(
        label="Description",
        max_length=500,
        required=False,
        help_text="What requests in this category are about; the few-shot classifier reads it.",
    )
    examples = forms.CharField(
        label="Example phrases",
        required=False,
        max_length=60_000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One customer phrase per line (at most 200).",
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)


class TryMessageForm(WorkspaceForm):
    # No max_length here: the domain refuses a longer text with a message
    # naming the limit (a browser's maxlength would cut a pasted text silently).
    text = forms.CharField(
        label="Customer's message",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Type a customer's message to try."},
    )


def _triage_page(
    request: HttpRequest, *, try_form: TryMessageForm | None = None, tried: Any = None
) -> HttpResponse:
    user = request.user
    return page(
        request,
        "workspace/settings/triage.html",
        {
            "categories": services.list_categories(user=user, include_inactive=True),
            "models": services.list_models(user=user)[:10],
            "active_model": services.active_model(user=user),
            "retrain": actions.retrain_status(),
            "try_form": try_form or TryMessageForm(),
            "tried": tried,
            "template_sets": list(TEMPLATE_SETS.values()),
        },
        status=400 if try_form is not None and try_form.errors else 200,
    )


@settings_required
def triage_settings(request: HttpRequest) -> HttpResponse:
    return _triage_page(request)


@settings_required
@require_POST
def triage_template(request: HttpRequest) -> HttpResponse:
    """Adds a starter set of categories (existing names are left as they are)."""
    try:
        added, kept = actions.add_category_template(
            actor=request.user, key=request.POST.get("template", "")
        )
    except ConciergeError as error:
        if error.status == 403:
            raise
        messages.error(request, error.message)
        return redirect("workspace:settings_triage")
    summary = f"Added {len(added)} categor{'y' if len(added) == 1 else 'ies'}"
    if added:
        summary += f": {', '.join(added)}"
    if kept:
        summary += f". Already there, left as they are: {', '.join(kept)}"
    messages.success(request, summary + ". Edit their examples to match how your customers ask.")
    return redirect("workspace:settings_triage")


@settings_required
def triage_report(request: HttpRequest) -> HttpResponse:
    """What new requests were about and how often agents kept the category triage gave."""
    try:
        days = int(request.GET.get("days", ""))
    except ValueError:
        days = 30
    if days not in services.REPORT_PERIODS:
        days = 30
    report = services.triage_report(user=request.user, days=days)
    inbox = reverse("workspace:inbox", kwargs={"view_slug": "all-open"})
    return page(
        request,
        "workspace/settings/triage_report.html",
        {
            "report": report,
            "periods": services.REPORT_PERIODS,
            # Every status (the filter bar's statuses left empty), spam still out.
            "inbox_for_label": f"{inbox}?filtered=1&prediction_intent=",
        },
    )


@settings_required
@require_POST
def triage_try(request: HttpRequest) -> HttpResponse:
    """What triage would say about a typed message, in the order of the ticket's panel."""
    form = TryMessageForm(request.POST)
    tried = None
    if form.is_valid():
        try:
            results = actions.try_triage(actor=request.user, text=form.cleaned_data["text"])
        except ConciergeError as error:
            if error.status == 403:
                raise
            apply_error(form, error)
        else:
            tried = [
                {
                    "kind": kind,
                    "kind_label": PredictionKind(kind).label,
                    "result": results[kind],
                    "confidence_percent": round(results[kind].confidence * 100),
                }
                for kind in PANEL_KINDS
                if kind in results
            ]
    return _triage_page(request, try_form=form, tried=tried)


@settings_required
def triage_retrain_status(request: HttpRequest) -> HttpResponse:
    """The retrain status block alone (polled by htmx while a retrain is queued or running)."""
    context = {"retrain": actions.retrain_status()}
    return render(request, "workspace/settings/_retrain_status.html", context)


@settings_required
@require_http_methods(["GET", "POST"])
def triage_category_edit(request: HttpRequest, category_id: int | None = None) -> HttpResponse:
    user = request.user
    category = None
    if category_id is not None:
        category = (
            services.list_categories(user=user, include_inactive=True)
            .filter(pk=category_id)
            .first()
        )
        if category is None:
            raise NotFound("No such category.")
    if request.method == "POST":
        form = CategoryForm(request.POST)
        if form.is_valid():
            try:
                actions.save_category(actor=user, category=category, **form.cleaned_data)
            except ConciergeError as error:
                apply_error(form, error)
            else:
                messages.success(request, "Category saved.")
                return redirect("workspace:settings_triage")
    else:
        initial = (
            {
                "name": category.name,
                "description": category.description,
                "examples": category.examples,
                "is_active": category.is_active,
            }
            if category
            else {"is_active": True}
        )
        form = CategoryForm(initial=initial)
    status = 400 if form.is_bound and form.errors else 200
    return page(
        request,
        "workspace/settings/triage_category_form.html",
        {"form": form, "category": category},
        status=status,
    )


@settings_required
@require_POST
def triage_category_delete(request: HttpRequest, category_id: int) -> HttpResponse:
    user = request.user
    category = (
        services.list_categories(user=user, include_inactive=True).filter(pk=category_id).first()
    )
    if category is None:
        raise NotFound("No such category.")
    actions.delete_category(actor=user, category=category)
    messages.success(request, f"Category {category.name} deleted.")
    return redirect("workspace:settings_triage")


@settings_required
@require_POST
def triage_retrain(request: HttpRequest) -> HttpResponse:
    """Queues the retrain (minutes on a big desk): the page then follows its status."""
    if actions.request_retrain(actor=request.user):
        messages.success(request, "Retraining started. The status below updates by itself.")
    else:
        messages.info(request, "A retrain is already queued or running.")
    return redirect("workspace:settings_triage")


urlpatterns: list[URLPattern] = [
    path(
        "tickets/<int:ticket_id>/triage/",
        ticket_triage_panel,
        name="ticket_triage",
    ),
    path(
        "tickets/<int:ticket_id>/triage/<int:prediction_id>/correct/",
        ticket_triage_correct,
        name="ticket_triage_correct",
    ),
    path("settings/triage/", triage_settings, name="settings_triage"),
    path("settings/triage/categories/new/", triage_category_edit, name="settings_triage_new"),
    path(
        "settings/triage/categories/<int:category_id>/",
        triage_category_edit,
        name="settings_triage_category",
    ),
    path(
        "settings/triage/categories/<int:category_id>/delete/",
        triage_category_delete,
        name="settings_triage_category_delete",
    ),
    path("settings/triage/try/", triage_try, name="settings_triage_try"),
    path("settings/triage/templates/", triage_template, name="settings_triage_template"),
    path("settings/triage/report/", triage_report, name="settings_triage_report"),
    path("settings/triage/retrain/", triage_retrain, name="settings_triage_retrain"),
    path(
        "settings/triage/retrain/status/",
        triage_retrain_status,
        name="settings_triage_retrain_status",
    ),
]
