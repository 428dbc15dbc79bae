"""Knowledge base pages of the agent workspace: write, translate, version, organize, brand, report.

Thin: each view parses a form, calls one ``knowledge`` service or action and
renders. Who may do what is decided by ``core.policy`` inside the domain.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from concierge.accounts import services as account_services
from concierge.core import policy
from concierge.core.errors import ConciergeError, NotFound
from concierge.customers import services as customer_services
from concierge.knowledge import actions as knowledge_actions
from concierge.knowledge import imports as knowledge_imports
from concierge.knowledge import services as knowledge_services
from concierge.knowledge.locales import normalize_locale
from concierge.knowledge.models import Article, ArticleStatus, HelpChannel, Visibility
from concierge.tickets import services as ticket_services
from concierge.tickets.models import EntryKind
from concierge.workspace import forms
from concierge.workspace.access import page, staff_required
from concierge.workspace.knowledge_forms import (
    ArticleForm,
    AttachmentsForm,
    BrandingForm,
    CategoryForm,
    HelpCenterImportForm,
    SectionForm,
)

PAGE_SIZE = 50


def _writers_only(view: Any) -> Any:
    """Refuses writes (POST) by staff who may only read articles (light agents)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            policy.require(policy.can_edit_articles(request.user), "Only agents write articles.")
        return view(request, *args, **kwargs)  # type: ignore[no-any-return]

    return wrapper


def _help_center_admins_only(view: Any) -> Any:
    """Changes to the help center's structure and branding: admins."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            policy.require(
                policy.can_manage_help_center(request.user), "Only admins organize the help center."
            )
        return view(request, *args, **kwargs)  # type: ignore[no-any-return]

    return wrapper


def _editor_context(user: Any) -> dict[str, Any]:
    return {
        "sections": list(knowledge_services.list_sections(user=user)),
        "owners": list(account_services.list_agents(user=user)),
        "organizations": list(customer_services.list_organizations(user=user).only("name")),
    }


def _article_form(request: HttpRequest, user: Any, **kwargs: Any) -> ArticleForm:
    choices = _editor_context(user)
    return ArticleForm(
        request.POST or None,
        sections=choices["sections"],
        owners=choices["owners"],
        organizations=choices["organizations"],
        **kwargs,
    )


# --- article list and editor ------------------------------------------------------------------


@staff_required
@require_GET
def article_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    status = request.GET.get("status", "")
    visibility = request.GET.get("visibility", "")
    filters = knowledge_services.ArticleFilters(
        status=status if status in ArticleStatus.values else "",
        visibility=visibility if visibility in Visibility.values else "",
        text=request.GET.get("q", "")[:200],
        due_for_review=request.GET.get("due") == "1",
        flagged=request.GET.get("flagged") == "1",
    )
    articles = knowledge_services.list_articles(user=user, filters=filters)[:PAGE_SIZE]
    context = {
        "articles": knowledge_services.localize(
            articles, knowledge_services.help_center_settings().default_locale
        ),
        "status": filters.status,
        "query": filters.text,
        "due": filters.due_for_review,
        "flagged": filters.flagged,
        "statuses": ArticleStatus.choices,
        "visibility": filters.visibility,
        "visibilities": Visibility.choices,
        "can_edit": policy.can_edit_articles(user),
        "can_manage": policy.can_manage_help_center(user),
    }
    return page(request, "workspace/knowledge/articles.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def article_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    policy.require(policy.can_edit_articles(user), "Only agents write articles.")
    initial = {"status": "draft", "owner_id": user.pk}
    # From the reports' "searches with no result": the search as a first title.
    initial["title"] = " ".join(request.GET.get("title", "").split())[:200]
    form = _article_form(request, user, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                article = knowledge_actions.create_article(actor=user, changes=form.changes())
                if form.cleaned_data.get("notify_followers"):
                    knowledge_actions.notify_followers(actor=user, article=article, new=True)
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, "Article created.")
                return redirect("workspace:knowledge_article", article_id=article.pk)
    context = {
        "form": form,
        "article": None,
        "has_sections": bool(form.fields["section_id"].choices),  # type: ignore[attr-defined]
    }
    return page(request, "workspace/knowledge/article_form.html", context, status=status)


def _initial(article: Article, locale: str) -> dict[str, Any]:
    translation = article.translations.filter(locale=locale).first()
    initial: dict[str, Any] = {
        "section_id": article.section_id,
        "status": article.status,
        "visibility": article.visibility,
        "organization_ids": list(article.organizations.values_list("pk", flat=True)),
        "tags": " ".join(tag.name for tag in article.tags.all()),
        "owner_id": article.owner_id,
        "review_due_on": article.review_due_on,
        "is_promoted": article.is_promoted,
        "position": article.position,
    }
    if translation is not None:
        initial.update(
            title=translation.title,
            body=translation.body_source,
            description=translation.description,
        )
    return initial


@staff_required
@_writers_only
@require_http_methods(["GET", "POST"])
def article_edit(request: HttpRequest, article_id: int) -> HttpResponse:
    """Edits the article; ``?locale=fr`` edits (or starts) its French translation."""
    user = request.user
    article = knowledge_services.get_article(user=user, article_id=article_id)
    locale = normalize_locale(request.GET.get("locale", "")) or article.source_locale
    is_translation = locale != article.source_locale
    choices = _editor_context(user)
    form = ArticleForm(
        request.POST or None,
        initial=_initial(article, locale),
        sections=choices["sections"],
        owners=choices["owners"],
        organizations=choices["organizations"],
        text_only=is_translation,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            was_published = article.status == ArticleStatus.PUBLISHED
            try:
                saved = knowledge_actions.update_article(
                    actor=user, article=article, changes=form.changes(), locale=locale
                )
                if form.cleaned_data.get("notify_followers"):
                    knowledge_actions.notify_followers(
                        actor=user, article=saved, new=not was_published
                    )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, "Article saved.")
                return redirect(
                    reverse("workspace:knowledge_article", args=[article.pk])
                    + (f"?locale={locale}" if is_translation else "")
                )
    translations = knowledge_services.translations_of(user=user, article=article)
    branding = knowledge_services.help_center_settings()
    existing = {translation.locale for translation in translations}
    context = {
        "form": form,
        "article": article,
        "locale": locale,
        "is_translation": is_translation,
        "translations": translations,
        "missing_locales": [code for code in branding.offered_locales if code not in existing],
        # A translation in a language the help center does not offer is kept but
        # never shown to visitors: the editor says so.
        "locale_offered": locale in branding.offered_locales,
        "attachments": list(article.attachments.all()),
        "attachments_form": AttachmentsForm(),
        "can_edit": policy.can_edit_articles(user),
        "help_center_url": _help_center_url(article, locale),
        "has_sections": True,
        **_flags_context(request, article),
        "followers": knowledge_services.follower_count(user=user, article=article),
        "review_interval_days": knowledge_actions.REVIEW_INTERVAL_DAYS,
    }
    return page(request, "workspace/knowledge/article_form.html", context, status=status)


def _flags_context(request: HttpRequest, article: Article) -> dict[str, Any]:
    flags = knowledge_services.article_flags(user=request.user, article=article)
    ticket_id = request.GET.get("ticket", "")
    return {
        "flags": flags,
        "open_flags": sum(flag.is_open for flag in flags),
        # Opened from a ticket's article picker: the flag remembers that ticket.
        "flag_ticket_id": int(ticket_id) if ticket_id.isdigit() else None,
    }


@staff_required
@require_POST
def article_reviewed(request: HttpRequest, article_id: int) -> HttpResponse:
    """ "Mark as reviewed": the article is still right; its next review date moves on."""
    user = request.user
    article = knowledge_services.get_article(user=user, article_id=article_id)
    article = knowledge_actions.mark_reviewed(actor=user, article=article)
    messages.success(
        request, f"Marked as reviewed; next review by {article.review_due_on:%Y-%m-%d}."
    )
    return redirect("workspace:knowledge_article", article_id=article.pk)


@staff_required
@require_POST
def article_flag(request: HttpRequest, article_id: int) -> HttpResponse:
    """Flags the article for an update (any staff member, light agents too)."""
    user = request.user
    article = knowledge_services.get_article(user=user, article_id=article_id)
    ticket = None
    ticket_id = request.POST.get("ticket_id", "")
    if ticket_id.isdigit():
        ticket = ticket_services.get_ticket(user=user, ticket_id=int(ticket_id))
    try:
        knowledge_actions.flag_article(
            actor=user, article=article, note=request.POST.get("note", ""), ticket=ticket
        )
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Flagged: whoever keeps this article up to date sees it.")
    return redirect(reverse("workspace:knowledge_article", args=[article.pk]) + "#flags")


@staff_required
@require_POST
def flag_resolve(request: HttpRequest, flag_id: int) -> HttpResponse:
    user = request.user
    flag = knowledge_services.get_flag(user=user, flag_id=flag_id)
    knowledge_actions.resolve_flag(actor=user, flag=flag)
    messages.success(request, "Flag resolved.")
    return redirect(reverse("workspace:knowledge_article", args=[flag.article_id]) + "#flags")


def _help_center_url(article: Article, locale: str) -> str:
    translation = article.translations.filter(locale=locale).first() or article.translations.first()
    if translation is None:
        return ""
    url = reverse("portal:help_article", args=[article.pk, translation.slug])
    return f"{url}?lang={translation.locale}"


@staff_required
@_writers_only
@require_POST
def article_delete(request: HttpRequest, article_id: int) -> HttpResponse:
    article = knowledge_services.get_article(user=request.user, article_id=article_id)
    try:
        knowledge_actions.delete_article(actor=request.user, article=article)
    except ConciergeError as error:
        messages.error(request, error.message)
        return redirect("workspace:knowledge_article", article_id=article_id)
    messages.success(request, "Article deleted.")
    return redirect("workspace:knowledge")


@staff_required
@_writers_only
@require_POST
def article_attachments(request: HttpRequest, article_id: int) -> HttpResponse:
    article = knowledge_services.get_article(user=request.user, article_id=article_id)
    form = AttachmentsForm(request.POST, request.FILES)
    if form.is_valid() and form.cleaned_data["uploads"]:
        try:
            stored = knowledge_actions.add_attachments(
                actor=request.user,
                article=article,
                attachments=forms.to_attachments(form.cleaned_data["uploads"]),
            )
        except ConciergeError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{len(stored)} file(s) added.")
    else:
        messages.error(request, "Choose at least one file.")
    return redirect("workspace:knowledge_article", article_id=article.pk)


@staff_required
@_writers_only
@require_POST
def article_attachment_delete(request: HttpRequest, article_id: int, file_id: int) -> HttpResponse:
    article = knowledge_services.get_article(user=request.user, article_id=article_id)
    attachment = article.attachments.filter(pk=file_id).first()
    if attachment is None:
        raise NotFound("No such file.")
    try:
        knowledge_actions.delete_attachment(actor=request.user, attachment=attachment)
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{attachment.filename} removed.")
    return redirect("workspace:knowledge_article", article_id=article.pk)


# --- versions -------------------------------------------------------------------------------


@staff_required
@require_GET
def article_versions(request: HttpRequest, article_id: int) -> HttpResponse:
    """The history of one translation; ``?older=&newer=`` shows the diff of two versions."""
    user = request.user
    article = knowledge_services.get_article(user=user, article_id=article_id)
    locale = normalize_locale(request.GET.get("locale", "")) or article.source_locale
    versions = knowledge_services.article_versions(user=user, article=article, locale=locale)
    diff = None
    older = newer = None
    older_id, newer_id = request.GET.get("older", ""), request.GET.get("newer", "")
    if older_id.isdigit() and newer_id.isdigit():
        older = knowledge_services.get_version(user=user, article=article, version_id=int(older_id))
        newer = knowledge_services.get_version(user=user, article=article, version_id=int(newer_id))
        diff = knowledge_services.diff_versions(older=older, newer=newer)
    elif len(versions) >= 2:
        newer, older = versions[0], versions[1]
        diff = knowledge_services.diff_versions(older=older, newer=newer)
    context = {
        "article": article,
        "locale": locale,
        "versions": versions,
        "older": older,
        "newer": newer,
        "diff": diff,
        "title": knowledge_services.localize([article], locale)[0].text.title,  # type: ignore[attr-defined]
        "can_edit": policy.can_edit_articles(user),
    }
    return page(request, "workspace/knowledge/versions.html", context)


@staff_required
@_writers_only
@require_POST
def article_restore(request: HttpRequest, article_id: int, version_id: int) -> HttpResponse:
    user = request.user
    article = knowledge_services.get_article(user=user, article_id=article_id)
    version = knowledge_services.get_version(user=user, article=article, version_id=version_id)
    try:
        restored = knowledge_actions.restore_version(actor=user, version=version)
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Version {version.number} restored as version {restored.number}."
        )
    return redirect(
        reverse("workspace:knowledge_versions", args=[article.pk]) + f"?locale={version.locale}"
    )


# --- categories and sections -------------------------------------------------------------------


@staff_required
@_help_center_admins_only
@require_http_methods(["GET", "POST"])
def structure(request: HttpRequest) -> HttpResponse:
    """Categories and their sections; admins add new ones here."""
    user = request.user
    categories = list(knowledge_services.list_categories(user=user))
    category_form = CategoryForm(request.POST if request.POST.get("kind") == "category" else None)
    section_form = SectionForm(
        request.POST if request.POST.get("kind") == "section" else None, categories=categories
    )
    status = 200
    if request.method == "POST":
        status = 400
        form: CategoryForm = (
            category_form if request.POST.get("kind") == "category" else section_form
        )
        if form.is_valid():
            try:
                if form is section_form:
                    knowledge_actions.save_section(actor=user, changes=form.cleaned_data)
                else:
                    knowledge_actions.save_category(actor=user, changes=form.cleaned_data)
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, f"{form.cleaned_data['name']} added.")
                return redirect("workspace:knowledge_structure")
    context = {
        "categories": categories,
        "category_form": category_form,
        "section_form": section_form,
        "can_manage": policy.can_manage_help_center(user),
    }
    return page(request, "workspace/knowledge/structure.html", context, status=status)


def _edit_structure_item(
    request: HttpRequest,
    form: Any,
    *,
    item: Any,
    kind: str,
    save: Callable[[dict[str, Any]], Any],
) -> HttpResponse:
    """The edit page of a category or section: save a valid POST, else (re)show the form."""
    if request.method == "POST" and form.is_valid():
        try:
            save(form.cleaned_data)
        except ConciergeError as error:
            forms.apply_error(form, error)
        else:
            messages.success(request, f"{kind.capitalize()} saved.")
            return redirect("workspace:knowledge_structure")
    context = {"form": form, "item": item, "kind": kind}
    return page(
        request,
        "workspace/knowledge/structure_form.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


@staff_required
@_help_center_admins_only
@require_http_methods(["GET", "POST"])
def category_edit(request: HttpRequest, category_id: int) -> HttpResponse:
    user = request.user
    policy.require(policy.can_manage_help_center(user), "Only admins organize the help center.")
    category = knowledge_services.get_category(user=request.user, category_id=category_id)
    initial = {
        "name": category.name,
        "slug": category.slug,
        "description": category.description,
        "position": category.position,
    }
    form = CategoryForm(request.POST or None, initial=initial)
    return _edit_structure_item(
        request,
        form,
        item=category,
        kind="category",
        save=lambda changes: knowledge_actions.save_category(
            actor=user, category=category, changes=changes
        ),
    )


@staff_required
@_help_center_admins_only
@require_http_methods(["GET", "POST"])
def section_edit(request: HttpRequest, section_id: int) -> HttpResponse:
    user = request.user
    policy.require(policy.can_manage_help_center(user), "Only admins organize the help center.")
    section = knowledge_services.get_section(user=request.user, section_id=section_id)
    initial = {
        "name": section.name,
        "slug": section.slug,
        "description": section.description,
        "position": section.position,
        "category_id": section.category_id,
    }
    categories = list(knowledge_services.list_categories(user=user))
    form = SectionForm(request.POST or None, initial=initial, categories=categories)
    return _edit_structure_item(
        request,
        form,
        item=section,
        kind="section",
        save=lambda changes: knowledge_actions.save_section(
            actor=user, section=section, changes=changes
        ),
    )


@staff_required
@_help_center_admins_only
@require_POST
def category_delete(request: HttpRequest, category_id: int) -> HttpResponse:
    category = knowledge_services.get_category(user=request.user, category_id=category_id)
    try:
        knowledge_actions.delete_category(actor=request.user, category=category)
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{category.name} deleted.")
    return redirect("workspace:knowledge_structure")


@staff_required
@_help_center_admins_only
@require_POST
def section_delete(request: HttpRequest, section_id: int) -> HttpResponse:
    section = knowledge_services.get_section(user=request.user, section_id=section_id)
    try:
        knowledge_actions.delete_section(actor=request.user, section=section)
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{section.name} deleted.")
    return redirect("workspace:knowledge_structure")


# --- branding and reports ---------------------------------------------------------------------


@staff_required
@_help_center_admins_only
@require_http_methods(["GET", "POST"])
def branding(request: HttpRequest) -> HttpResponse:
    user = request.user
    policy.require(policy.can_manage_help_center(user), "Only admins brand the help center.")
    current = knowledge_services.help_center_settings()
    initial = {
        "name": current.name,
        "tagline": current.tagline,
        "primary_color": current.primary_color,
        "accent_color": current.accent_color,
        "text_color": current.text_color,
        "background_color": current.background_color,
        "default_locale": current.default_locale,
        "locales": " ".join(current.locales),
    }
    form = BrandingForm(request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = dict(form.cleaned_data)
            upload = data.pop("logo")
            logo = forms.to_attachments([upload])[0] if upload else None
            try:
                knowledge_actions.save_branding(actor=user, changes=data, logo=logo)
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                messages.success(request, "Help center branding saved.")
                return redirect("workspace:knowledge_branding")
    return page(
        request,
        "workspace/knowledge/branding.html",
        {"form": form, "branding": current},
        status=status,
    )


@staff_required
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    user = request.user
    days = 30
    channel = request.GET.get("channel", "")
    if channel not in HelpChannel.values:
        channel = ""
    rates = knowledge_services.self_service_rate_by_day(user=user, days=days, channel=channel)
    total_sessions = sum(rate.sessions for rate in rates)
    total_self_served = sum(rate.self_served for rate in rates)
    context = {
        "days": days,
        "rates": rates,
        "total_sessions": total_sessions,
        "overall_rate": total_self_served / total_sessions if total_sessions else None,
        "channel": channel,
        "channels": HelpChannel.choices,
        "by_channel": knowledge_services.self_service_by_channel(user=user, days=days),
        "top_searches": knowledge_services.top_searches(user=user, days=days),
        "empty_searches": knowledge_services.searches_without_results(user=user, days=days),
        "least_helpful": knowledge_services.least_helpful_articles(user=user),
        "due": knowledge_services.articles_due_for_review(user=user),
        "flagged": knowledge_services.flagged_articles(user=user),
        "can_write": policy.can_edit_articles(user),
        "comments": knowledge_services.recent_comments(user=user),
    }
    return page(request, "workspace/knowledge/reports.html", context)


# --- import from Zendesk Guide or Help Scout Docs ----------------------------------------------


def _import_runs_context(user: Any) -> dict[str, Any]:
    runs = knowledge_services.recent_imports(user=user)
    for run in runs:
        run.can_import_again = knowledge_imports.can_import_again(run)  # type: ignore[attr-defined]
        if run.status == "running":
            run.progress = knowledge_imports.import_progress(run.pk)  # type: ignore[attr-defined]
    return {"runs": runs, "running": any(not run.is_finished for run in runs)}


@staff_required
@require_http_methods(["GET", "POST"])
def help_center_import(request: HttpRequest) -> HttpResponse:
    """Start an import (checked first by default) and follow the runs (a background task)."""
    user = request.user
    policy.require(policy.can_manage_help_center(user), "Only admins import a help center.")
    form = HelpCenterImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            upload = data["export"]
            try:
                knowledge_imports.start_import(
                    actor=user,
                    request=knowledge_imports.ImportRequest(
                        source=data["source"],
                        dry_run=data["dry_run"],
                        export_name=upload.name if upload else "",
                        export=upload,
                        subdomain=data["subdomain"],
                        email=data["email"],
                        secret=data["secret"],
                    ),
                )
            except ConciergeError as error:
                forms.apply_error(form, error)
                status = error.status
            else:
                verb = "check" if data["dry_run"] else "import"
                messages.success(request, f"The {verb} started; its report appears below.")
                return redirect("workspace:knowledge_import")
    context = {"form": form, **_import_runs_context(user)}
    return page(request, "workspace/knowledge/import.html", context, status=status)


@staff_required
@require_GET
def help_center_import_runs(request: HttpRequest) -> HttpResponse:
    """The runs' list, polled by the import page while one is unfinished."""
    user = request.user
    policy.require(policy.can_manage_help_center(user), "Only admins import a help center.")
    return render(request, "workspace/knowledge/_import_runs.html", _import_runs_context(user))


@staff_required
@require_POST
def help_center_import_again(request: HttpRequest, import_id: int) -> HttpResponse:
    """Imports a checked (or failed) run's export without uploading it again."""
    user = request.user
    previous = knowledge_services.get_import(user=user, import_id=import_id)
    try:
        knowledge_imports.import_again(actor=user, previous=previous)
    except ConciergeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Importing {previous.export_name}; its report appears below.")
    return redirect("workspace:knowledge_import")


# --- from the ticket page: search articles for a reply, turn an answer into a draft -----------


@staff_required
@require_GET
def composer_search(request: HttpRequest) -> HttpResponse:
    """The htmx partial of the composer's article picker: the articles matching what the
    agent typed or, before they type, those that may answer the ticket (as Zendesk's
    knowledge panel suggests them)."""
    user = request.user
    # The picker's box is named kb_q: it sits inside the composer's form.
    query = (request.GET.get("kb_q") or request.GET.get("q", ""))[:200]
    locale = normalize_locale(request.GET.get("locale", "")) or (
        knowledge_services.help_center_settings().default_locale
    )
    ticket = request.GET.get("ticket", "")  # the ticket being answered: a flag names it
    ticket_id = int(ticket) if ticket.isdigit() else None
    suggested = False
    if not query.strip() and ticket_id is not None:
        suggested = True
        hits = knowledge_services.suggest_articles_for_ticket(
            user=user, ticket_id=ticket_id, locale=locale
        )
    else:
        hits = knowledge_services.search_articles(user=user, query=query, locale=locale, limit=8)
    unreadable = (
        knowledge_services.unreadable_by_requester(
            user=user, ticket_id=ticket_id, article_ids=[hit.article.pk for hit in hits]
        )
        if ticket_id is not None and hits
        else set()
    )
    for hit in hits:
        text = hit.article.text  # type: ignore[attr-defined]
        hit.url = request.build_absolute_uri(  # type: ignore[attr-defined]
            reverse("portal:help_article", args=[hit.article.pk, text.slug])
        )
        hit.requester_cannot_read = hit.article.pk in unreadable  # type: ignore[attr-defined]
    return render(
        request,
        "workspace/knowledge/_composer_results.html",
        {"hits": hits, "query": query, "ticket_id": ticket_id, "suggested": suggested},
    )


@staff_required
@_writers_only
@require_POST
def entry_to_article(request: HttpRequest, ticket_id: int, entry_id: int) -> HttpResponse:
    user = request.user
    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    entry = (
        ticket_services.visible_entries(user=user, ticket=ticket)
        .filter(pk=entry_id, kind=EntryKind.PUBLIC_REPLY)
        .first()
    )
    if entry is None:
        raise NotFound("No such reply on this ticket.")
    try:
        article = knowledge_actions.create_draft_from_entry(actor=user, entry=entry)
    except ConciergeError as error:
        messages.error(request, error.message)
        return redirect("workspace:ticket", ticket_id=ticket.pk)
    messages.success(
        request,
        "Draft article created from the reply, for agents only: take out anything about "
        "this customer, then publish it here (Visible to: Everyone for the help center).",
    )
    return redirect("workspace:knowledge_article", article_id=article.pk)


urlpatterns: list[URLPattern] = [
    path("knowledge/", article_list, name="knowledge"),
    path("knowledge/articles/new/", article_new, name="knowledge_article_new"),
    path("knowledge/articles/<int:article_id>/", article_edit, name="knowledge_article"),
    path(
        "knowledge/articles/<int:article_id>/delete/",
        article_delete,
        name="knowledge_article_delete",
    ),
    path(
        "knowledge/articles/<int:article_id>/files/",
        article_attachments,
        name="knowledge_article_files",
    ),
    path(
        "knowledge/articles/<int:article_id>/files/<int:file_id>/delete/",
        article_attachment_delete,
        name="knowledge_article_file_delete",
    ),
    path("knowledge/articles/<int:article_id>/flags/", article_flag, name="knowledge_article_flag"),
    path(
        "knowledge/articles/<int:article_id>/reviewed/",
        article_reviewed,
        name="knowledge_article_reviewed",
    ),
    path("knowledge/flags/<int:flag_id>/resolve/", flag_resolve, name="knowledge_flag_resolve"),
    path(
        "knowledge/articles/<int:article_id>/versions/",
        article_versions,
        name="knowledge_versions",
    ),
    path(
        "knowledge/articles/<int:article_id>/versions/<int:version_id>/restore/",
        article_restore,
        name="knowledge_version_restore",
    ),
    path("knowledge/structure/", structure, name="knowledge_structure"),
    path("knowledge/categories/<int:category_id>/", category_edit, name="knowledge_category"),
    path(
        "knowledge/categories/<int:category_id>/delete/",
        category_delete,
        name="knowledge_category_delete",
    ),
    path("knowledge/sections/<int:section_id>/", section_edit, name="knowledge_section"),
    path(
        "knowledge/sections/<int:section_id>/delete/",
        section_delete,
        name="knowledge_section_delete",
    ),
    path("knowledge/branding/", branding, name="knowledge_branding"),
    path("knowledge/reports/", reports, name="knowledge_reports"),
    path("knowledge/import/", help_center_import, name="knowledge_import"),
    path("knowledge/import/runs/", help_center_import_runs, name="knowledge_import_runs"),
    path(
        "knowledge/import/<int:import_id>/again/",
        help_center_import_again,
        name="knowledge_import_again",
    ),
    path("knowledge/composer-search/", composer_search, name="knowledge_composer_search"),
    path(
        "tickets/<int:ticket_id>/entries/<int:entry_id>/article/",
        entry_to_article,
        name="knowledge_from_entry",
    ),
]
