"""The public help center under /portal/help/: browsing, reading, searching, voting.

Thin like the rest of the portal: each view picks the visitor's language,
calls one ``knowledge`` service or action and renders. Anyone may read
published public articles; staff also see agents-only ones; drafts never
show here.

Pages answer GET without writing anything. What a visitor did is recorded
by a small script that posts back a signed event token the page carries
(article view, search with its result count, suggestion click): the server
made the token, so a visitor cannot invent searches or views for articles
they never saw, and crawlers that run no script are not counted.
"""

from __future__ import annotations

import logging
import mimetypes
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from concierge.core import policy
from concierge.core.errors import ConciergeError, LimitExceeded, NotFound
from concierge.knowledge import actions as knowledge_actions
from concierge.knowledge import services as knowledge_services
from concierge.knowledge.content import excerpt, table_of_contents
from concierge.knowledge.locales import accept_language_locales, choose_locale, normalize_locale
from concierge.knowledge.models import Article, EventKind

logger = logging.getLogger(__name__)

LANGUAGE_COOKIE = "hc_lang"
HELP_SESSION_KEY = "help_session"
EVENT_SALT = "concierge.help.event"
EVENT_TOKEN_MAX_AGE = 6 * 3600
SEARCH_RESULTS = 20
SEARCH_FILTER_POOL = 100  # matches counted per category on the results page
LANGUAGE_NAMES = {
    "en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
    "pt": "Português", "pt-br": "Português (Brasil)", "nl": "Nederlands", "sv": "Svenska",
    "da": "Dansk", "fi": "Suomi", "nb": "Norsk", "pl": "Polski", "ja": "日本語", "zh": "中文",
}  # fmt: skip


# --- language, session and page context -------------------------------------------------


def visitor_locale(request: HttpRequest) -> str:
    """?lang= first, then the language cookie, then Accept-Language, then the default."""
    branding = knowledge_services.help_center_settings()
    requested = [
        normalize_locale(request.GET.get("lang", "")),
        normalize_locale(request.COOKIES.get(LANGUAGE_COOKIE, "")),
        *accept_language_locales(request.headers.get("Accept-Language", "")),
    ]
    return choose_locale(
        requested=[locale for locale in requested if locale],
        offered=branding.offered_locales,
        default=branding.default_locale,
    )


def help_session_key(request: HttpRequest) -> str:
    """The visitor's help session (kept in their Django session, created on first use)."""
    key = request.session.get(HELP_SESSION_KEY)
    if not key:
        key = request.session[HELP_SESSION_KEY] = knowledge_actions.new_session_key()
    return str(key)


def event_token(kind: str, **data: Any) -> str:
    return signing.dumps({"kind": kind, **data}, salt=EVENT_SALT, compress=True)


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    branding = knowledge_services.help_center_settings()
    locale = context.get("locale") or visitor_locale(request)
    full_context = {
        "branding": branding,
        "locale": locale,
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in branding.offered_locales],
        "is_customer": policy.customer_of(request.user) is not None,
        "is_staff": policy.is_staff(request.user),
        **context,
    }
    response = render(request, template, full_context, status=status)
    chosen = normalize_locale(request.GET.get("lang", ""))
    if chosen and chosen == locale:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )  # fmt: skip
    return response


def _not_found(request: HttpRequest, error: NotFound) -> HttpResponse:
    return _render(request, "portal/help/not_found.html", {"message": error.message}, status=404)


# --- pages --------------------------------------------------------------------------------


@require_GET
def help_home(request: HttpRequest) -> HttpResponse:
    locale = visitor_locale(request)
    context = {
        "locale": locale,
        "categories": knowledge_services.help_center_tree(user=request.user, locale=locale),
        "popular": knowledge_services.popular_articles(user=request.user, locale=locale),
    }
    return _render(request, "portal/help/home.html", context)


@require_GET
def help_category(request: HttpRequest, category_id: int, slug: str = "") -> HttpResponse:
    locale = visitor_locale(request)
    try:
        category = knowledge_services.get_category(user=request.user, category_id=category_id)
    except NotFound as error:
        return _not_found(request, error)
    if slug != category.slug:
        return redirect("portal:help_category", category_id=category.pk, slug=category.slug)
    tree = knowledge_services.help_center_tree(
        user=request.user, locale=locale, category_id=category.pk
    )
    context = {
        "locale": locale,
        "category": category,
        "category_name": category.name_in(locale),
        "sections": tree[0].sections if tree else [],
    }
    return _render(request, "portal/help/category.html", context)


@require_GET
def help_section(request: HttpRequest, section_id: int, slug: str = "") -> HttpResponse:
    locale = visitor_locale(request)
    try:
        section = knowledge_services.get_section(user=request.user, section_id=section_id)
    except NotFound as error:
        return _not_found(request, error)
    if slug != section.slug:
        return redirect("portal:help_section", section_id=section.pk, slug=section.slug)
    tree = knowledge_services.help_center_tree(
        user=request.user, locale=locale, section_id=section.pk
    )
    context = {
        "locale": locale,
        "section": section,
        "section_name": section.name_in(locale),
        "category_name": section.category.name_in(locale),
        "articles": tree[0].sections[0].articles if tree else [],
        "following": knowledge_services.is_following(user=request.user, section=section),
    }
    return _render(request, "portal/help/section.html", context)


def article_url(article: Article) -> str:
    """The canonical address of an article in the text it is shown in (``article.text``)."""
    return reverse(
        "portal:help_article",
        kwargs={"article_id": article.pk, "slug": article.text.slug},  # type: ignore[attr-defined]
    )


def translation_address(article_id: int, translation: Any) -> str:
    """The public address of one translation: its slug, and its language named."""
    path = reverse("portal:help_article", args=[article_id, translation.slug])
    return f"{settings.SITE_URL}{path}?lang={translation.locale}"


@require_GET
def imported_address(
    request: HttpRequest, source: str, kind: str, external_id: str
) -> HttpResponseBase:
    """An address of a help center imported from Zendesk Guide (``/hc/en-us/articles/1-...``)
    or Help Scout Docs (``/article/12-...``), moved here for good: links, bookmarks and search
    engines land on the same page. Who may read it is decided by the page it leads to."""
    object_id = knowledge_services.imported_object_id(
        source=source, address_kind=kind, external_id=external_id
    )
    if object_id is None:
        return _not_found(request, NotFound("No such page: it was not imported."))
    kind = knowledge_services.OLD_ADDRESS_KINDS[source][kind]
    try:
        if kind == "article":
            # The short address: it checks access before it names the article's title.
            return redirect("portal:help_article_by_id", article_id=object_id, permanent=True)
        if kind == "section":
            section = knowledge_services.get_section(user=request.user, section_id=object_id)
            return redirect(
                "portal:help_section", section_id=section.pk, slug=section.slug, permanent=True
            )
        category = knowledge_services.get_category(user=request.user, category_id=object_id)
    except NotFound as error:
        return _not_found(request, error)
    return redirect(
        "portal:help_category", category_id=category.pk, slug=category.slug, permanent=True
    )


@require_GET
def help_article_by_id(request: HttpRequest, article_id: int) -> HttpResponse:
    """``/help/articles/12/``: a short link that redirects to the canonical one."""
    return help_article(request, article_id, slug="")


@require_GET
def help_article(request: HttpRequest, article_id: int, slug: str) -> HttpResponse:
    locale = visitor_locale(request)
    try:
        article = knowledge_services.get_localized_article(
            user=request.user, article_id=article_id, locale=locale
        )
    except NotFound as error:
        if knowledge_services.needs_sign_in(user=request.user, article_id=article_id):
            return redirect_to_login(request.get_full_path(), login_url=reverse("portal:login"))
        return _not_found(request, error)
    text = article.text  # type: ignore[attr-defined]
    if slug != text.slug:
        # Old slugs, other languages' slugs and bare ids all land on the canonical address.
        target = article_url(article)
        if request.GET.get("via") == "suggestion":
            target += "?via=suggestion"
        return redirect(target, permanent=bool(slug))
    via_suggestion = request.GET.get("via") == "suggestion"
    context = {
        "locale": locale,
        "article": article,
        # An agent checking the page reads who it is for, not "your organization".
        "reader_is_staff": policy.is_staff(request.user),
        "text": text,
        "is_fallback": article.is_fallback,  # type: ignore[attr-defined]
        "section": article.section,
        "section_name": article.section.name_in(locale),
        "category_name": article.section.category.name_in(locale),
        "toc": table_of_contents(text.body_html),
        "related": knowledge_services.related_articles(
            user=request.user, article=article, locale=locale
        ),
        "attachments": [a for a in article.attachments.all() if not a.is_image],
        "meta_description": text.description or excerpt(text.body_html),
        # Each translation's address names its language, so crawlers index every one.
        "canonical_url": translation_address(article.pk, text),
        "alternates": [
            (translation.locale, translation_address(article.pk, translation))
            for translation in article.translations.all()
        ],
        "view_token": event_token(
            EventKind.SUGGESTION_CLICK if via_suggestion else EventKind.VIEW,
            article_id=article.pk,
            locale=locale,
        ),
        "voted": str(article.pk) in request.session.get("help_votes", {}),
        "following": knowledge_services.is_following(user=request.user, article=article),
    }
    return _render(request, "portal/help/article.html", context)


@require_GET
def help_search(request: HttpRequest) -> HttpResponse:
    locale = visitor_locale(request)
    typed = " ".join(request.GET.get("q", "").split())
    # A longer search is cut, not refused (a visitor pasting a whole email
    # still gets answers), and the page says where it was cut.
    query = typed[: knowledge_services.SEARCH_QUERY_MAX_CHARS]
    # The best SEARCH_FILTER_POOL matches give the per-category counts; the page
    # shows the first SEARCH_RESULTS of them, or of one category's.
    found = (
        knowledge_services.search_articles(
            user=request.user, query=query, locale=locale, limit=SEARCH_FILTER_POOL
        )
        if query
        else []
    )
    categories = knowledge_services.hits_per_category(found, locale)
    chosen = request.GET.get("category", "")
    category_id = int(chosen) if chosen.isdigit() else None
    if category_id not in {row.category_id for row in categories}:
        category_id = None  # an unknown or emptied category: every result
    in_category = [h for h in found if category_id in (None, h.article.section.category_id)]
    hits = in_category[:SEARCH_RESULTS]
    context = {
        "locale": locale,
        "query": query,
        "query_cut_at": knowledge_services.SEARCH_QUERY_MAX_CHARS if len(typed) > len(query) else 0,
        "hits": hits,
        "total": len(in_category),
        "all_count": len(found),
        "categories": categories if len(categories) > 1 else [],
        "category_id": category_id,
        "search_token": event_token(
            EventKind.SEARCH, query=query, result_count=len(found), locale=locale
        )
        if query and category_id is None  # a filter is the same search, not a new one
        else "",
    }
    return _render(request, "portal/help/search.html", context)


@require_GET
def help_suggest(request: HttpRequest) -> HttpResponse:
    """The htmx partial under the new-request form: articles that may answer it."""
    locale = visitor_locale(request)
    text = f"{request.GET.get('subject', '')} {request.GET.get('description', '')}"[:1000]
    hits = knowledge_services.suggest_articles(user=request.user, text=text, locale=locale)
    context = {"hits": hits, "locale": locale}
    return render(request, "portal/help/_suggestions.html", context)


# --- visitor writes: events and votes ------------------------------------------------------------


@require_POST
def help_event(request: HttpRequest) -> HttpResponse:
    """Records what a page's signed token says the visitor saw (posted by help_center.js)."""
    try:
        data = signing.loads(
            request.POST.get("token", ""), salt=EVENT_SALT, max_age=EVENT_TOKEN_MAX_AGE
        )
    except signing.BadSignature:
        return JsonResponse({"code": "bad_token", "message": "Unknown event."}, status=400)
    session_key = help_session_key(request)
    customer = policy.customer_of(request.user)
    try:
        kind = data.get("kind")
        if kind == EventKind.SUGGESTION_CLICK:
            # A click on a suggestion opens the article: it is a view as well.
            knowledge_actions.record_event(
                session_key=session_key, kind=EventKind.SUGGESTION_CLICK,
                article_id=data.get("article_id"), locale=data.get("locale", ""),
                customer=customer,
            )  # fmt: skip
            kind = EventKind.VIEW
        knowledge_actions.record_event(
            session_key=session_key,
            kind=kind,
            article_id=data.get("article_id"),
            query=data.get("query", ""),
            result_count=data.get("result_count"),
            locale=data.get("locale", ""),
            customer=customer,
            client_address=str(request.META.get("REMOTE_ADDR") or ""),
        )
    except ConciergeError as error:
        return JsonResponse(
            error.as_dict(), status=429 if isinstance(error, LimitExceeded) else 400
        )
    return JsonResponse({"recorded": True})


@require_POST
def help_vote(request: HttpRequest, article_id: int) -> HttpResponse:
    locale = visitor_locale(request)
    try:
        article = knowledge_services.get_localized_article(
            user=request.user, article_id=article_id, locale=locale
        )
    except NotFound as error:
        return _not_found(request, error)
    answer = request.POST.get("helpful", "")
    if answer not in ("yes", "no"):
        messages.error(request, "Choose yes or no.")
        return redirect(article_url(article) + "#feedback")
    try:
        knowledge_actions.vote(
            session_key=help_session_key(request),
            article=article,
            is_helpful=answer == "yes",
            comment=request.POST.get("comment", ""),
            locale=locale,
            client_address=str(request.META.get("REMOTE_ADDR") or ""),
            customer=policy.customer_of(request.user),
        )
    except ConciergeError as error:
        if request.headers.get("HX-Request"):
            return HttpResponse(
                render_to_string("portal/help/_vote_error.html", {"message": error.message}),
                status=429 if isinstance(error, LimitExceeded) else 400,
            )
        messages.error(request, error.message)
        return redirect(article_url(article) + "#feedback")
    votes = dict(request.session.get("help_votes", {}))
    votes[str(article.pk)] = answer
    request.session["help_votes"] = votes
    context = {"article": article, "answer": answer, "contact_url": reverse("portal:request_new")}
    if request.headers.get("HX-Request"):
        return render(request, "portal/help/_vote_thanks.html", context)
    messages.success(request, "Thank you for your feedback!")
    return redirect(article_url(article) + "#feedback")


# --- following: articles and sections, by email --------------------------------------------------


def _follow_or_unfollow(request: HttpRequest, back: str, **target: Any) -> HttpResponse:
    """Follows ``target`` (an article or a section), or stops with ``unfollow``; back to it."""
    unfollowing = bool(request.POST.get("unfollow"))
    try:
        if unfollowing:
            knowledge_actions.unfollow(actor=request.user, **target)
        else:
            knowledge_actions.follow(actor=request.user, **target)
    except NotFound as error:
        return _not_found(request, error)
    except ConciergeError as error:
        messages.error(request, error.message)
        return redirect(back + "#follow")
    followed = "You follow it: we email you when it changes."
    messages.success(request, "You no longer follow it." if unfollowing else followed)
    return redirect(back + "#follow")


@require_POST
def help_article_follow(request: HttpRequest, article_id: int) -> HttpResponse:
    """Follow (or, with ``unfollow``, stop following) an article; signed-in readers only."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("portal:login"))
    try:
        article = knowledge_services.get_localized_article(
            user=request.user, article_id=article_id, locale=visitor_locale(request)
        )
    except NotFound as error:
        return _not_found(request, error)
    return _follow_or_unfollow(request, article_url(article), article=article)


@require_POST
def help_section_follow(request: HttpRequest, section_id: int) -> HttpResponse:
    """Follow a section: an email when a new article is published in it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("portal:login"))
    try:
        section = knowledge_services.get_section(user=request.user, section_id=section_id)
    except NotFound as error:
        return _not_found(request, error)
    back = reverse("portal:help_section", args=[section.pk, section.slug])
    return _follow_or_unfollow(request, back, section=section)


@require_GET
def help_following(request: HttpRequest) -> HttpResponse:
    """What the signed-in reader follows, each with its "stop following" button."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("portal:login"))
    locale = visitor_locale(request)
    followed = knowledge_services.followed_by(user=request.user, locale=locale)
    rows = [
        {
            "item": item,
            "url": article_url(item.article)
            if item.article is not None
            else reverse("portal:help_section", args=[item.section.pk, item.section.slug])
            if item.section is not None
            else "",
            "token": knowledge_actions.unfollow_token(item.subscription),
        }
        for item in followed
    ]
    return _render(request, "portal/help/following.html", {"locale": locale, "rows": rows})


def help_unfollow(request: HttpRequest, token: str) -> HttpResponse:
    """An email's "stop following" link: no sign-in needed (the link is signed). GET asks,
    POST ends it, so a mail scanner that opens links changes nothing."""
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405)
    subscription = knowledge_actions.subscription_for_token(token)
    if subscription is None:
        return _not_found(request, NotFound("This link is no longer valid: nothing to stop."))
    name = knowledge_services.public_name_of(subscription)
    if request.method == "POST" and request.POST.get("all"):
        # "Stop all": every subscription of the link's reader, no sign-in needed.
        ended = knowledge_actions.unfollow_everything(user_id=subscription.user_id)
        context = {"name": f"{ended} article(s) and section(s)", "done": True, "token": token}
        return _render(request, "portal/help/unfollow.html", context)
    if request.method == "POST":
        subscription.delete()
        if request.POST.get("next") == "following":  # from the reader's "Following" page
            messages.success(request, f"You no longer follow {name}.")
            return redirect("portal:help_following")
        return _render(
            request, "portal/help/unfollow.html", {"name": name, "done": True, "token": token}
        )
    context = {
        "name": name, "done": False, "token": token, "is_section": subscription.article is None,
    }  # fmt: skip
    return _render(request, "portal/help/unfollow.html", context)


# --- files, theme, sitemap, robots ---------------------------------------------------------------


@require_GET
def help_file(request: HttpRequest, file_id: int, filename: str) -> HttpResponseBase:
    """An article's image (shown inline) or file (downloaded), for whoever may read it."""
    try:
        attachment = knowledge_services.get_attachment(user=request.user, attachment_id=file_id)
        handle = attachment.file.open("rb")
    except (NotFound, FileNotFoundError) as error:
        raise Http404("No such file.") from error
    response = FileResponse(
        handle,
        as_attachment=not attachment.is_image,
        filename=attachment.filename,
        content_type=attachment.content_type if attachment.is_image else None,
    )
    if not attachment.is_image:
        response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    public = attachment.article.is_public
    response["Cache-Control"] = "public, max-age=3600" if public else "private, no-store"
    return response


@require_GET
def help_logo(request: HttpRequest, filename: str) -> HttpResponseBase:
    """The help center's logo (uploaded by an admin; PNG, JPEG, GIF or WebP only).

    The address names the current file, so a new logo gets a new address and
    browsers may cache each one.
    """
    branding = knowledge_services.help_center_settings()
    if not branding.logo or branding.logo_filename != filename:
        raise Http404("No logo.")
    try:
        handle = branding.logo.open("rb")
    except FileNotFoundError as error:
        raise Http404("No logo.") from error
    content_type = mimetypes.guess_type(branding.logo.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
@cache_control(public=True, max_age=300)
def help_theme(request: HttpRequest) -> HttpResponse:
    """The branding colours as CSS custom properties (validated #rrggbb values)."""
    css = render_to_string("portal/help/theme.css", {"colors": knowledge_services.theme_colors()})
    return HttpResponse(css, content_type="text/css; charset=utf-8")


@require_GET
def help_sitemap(request: HttpRequest) -> HttpResponse:
    entries = [
        {
            "loc": settings.SITE_URL
            + reverse(
                "portal:help_article", kwargs={"article_id": entry.article_id, "slug": entry.slug}
            )
            + f"?lang={entry.locale}",
            "lastmod": entry.updated_at,
        }
        for entry in knowledge_services.sitemap_entries()
    ]
    home = settings.SITE_URL + reverse("portal:help_home")
    xml = render_to_string("portal/help/sitemap.xml", {"entries": entries, "home": home})
    return HttpResponse(xml, content_type="application/xml; charset=utf-8")


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    """Crawlers may read the help center only; the sitemap lists its articles."""
    sitemap = settings.SITE_URL + reverse("portal:help_sitemap")
    lines = [
        "User-agent: *",
        f"Allow: {reverse('portal:help_home')}",
        "Disallow: /",
        f"Sitemap: {sitemap}",
        "",
    ]
    return HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
