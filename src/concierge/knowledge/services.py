"""Reads of the knowledge base: what a visitor, customer or agent may see, in their language.

Every function takes the acting ``user`` (an anonymous visitor included) and
narrows what it returns with ``core.policy``: customers and anonymous
visitors see published public articles only, staff see everything.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import nh3
from django.db.models import Count, F, Max, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from concierge.core import policy
from concierge.core.errors import NotFound
from concierge.knowledge.content import excerpt, plain_body
from concierge.knowledge.locales import fallback_chain
from concierge.knowledge.models import (
    Article,
    ArticleAttachment,
    ArticleFlag,
    ArticleStatus,
    ArticleTranslation,
    ArticleVersion,
    ArticleVote,
    Category,
    EventKind,
    HelpCenterImport,
    HelpCenterSettings,
    HelpChannel,
    HelpEvent,
    HelpSession,
    HelpSubscription,
    Section,
    Visibility,
)

logger = logging.getLogger(__name__)

SELF_SERVICE_WINDOW = timedelta(hours=24)
SEARCH_QUERY_MAX_CHARS = 200


# --- settings ----------------------------------------------------------------------


def help_center_settings() -> HelpCenterSettings:
    """The branding and languages; defaults (unsaved) until an admin saves them."""
    return HelpCenterSettings.objects.filter(pk=1).first() or HelpCenterSettings(pk=1)


def theme_colors() -> dict[str, str]:
    """The branding colours, each a checked ``#rrggbb`` (the default where a stored one is not)."""
    import re

    branding = help_center_settings()
    defaults = HelpCenterSettings()
    colors = {}
    for name in ("primary_color", "accent_color", "text_color", "background_color"):
        value = str(getattr(branding, name))
        colors[name] = value if re.fullmatch(r"#[0-9a-fA-F]{6}", value) else getattr(defaults, name)
    return colors


# --- articles in a language ------------------------------------------------------------


def visible_articles(*, user: Any) -> QuerySet[Article]:
    return Article.objects.filter(policy.visible_articles_filter(user))


def _translations(path: str = "translations") -> Prefetch:
    """The translations at ``path``, in a stable order (``pick_translation`` reads them)."""
    return Prefetch(path, queryset=ArticleTranslation.objects.order_by("locale"))


def _with_text(queryset: QuerySet[Article]) -> QuerySet[Article]:
    return queryset.select_related("section__category", "owner").prefetch_related(_translations())


def pick_translation(article: Article, locale: str, *, default_locale: str) -> ArticleTranslation:
    """The article's text in ``locale``, else the fallback chain (language, default, source)."""
    by_locale = {translation.locale: translation for translation in article.translations.all()}
    for candidate in fallback_chain(locale, default=default_locale, source=article.source_locale):
        if candidate in by_locale:
            return by_locale[candidate]
    if not by_locale:
        raise NotFound("This article has no text yet.")
    return next(iter(by_locale.values()))


def localize(articles: Iterable[Article], locale: str) -> list[Article]:
    """Sets ``article.text`` (the translation to show) and ``article.is_fallback`` on each."""
    default_locale = help_center_settings().default_locale
    shown = []
    for article in articles:
        try:
            article.text = pick_translation(  # type: ignore[attr-defined]
                article, locale, default_locale=default_locale
            )
        except NotFound:
            continue
        article.is_fallback = article.text.locale != locale  # type: ignore[attr-defined]
        shown.append(article)
    return shown


def get_article(*, user: Any, article_id: int) -> Article:
    """An article ``user`` may read, with its translations; NotFound otherwise."""
    article = _with_text(visible_articles(user=user)).filter(pk=article_id).first()
    if article is None:
        raise NotFound("No such article.")
    return article


def get_localized_article(*, user: Any, article_id: int, locale: str) -> Article:
    article = get_article(user=user, article_id=article_id)
    return localize([article], locale)[0]


def old_slug_redirects_to(*, article: Article, slug: str) -> bool:
    """True when ``slug`` is one the article had before (its links must keep working)."""
    return article.old_slugs.filter(slug=slug).exists()


def published_for(user: Any, queryset: QuerySet[Article]) -> QuerySet[Article]:
    """The published articles of ``queryset`` that ``user`` may read (staff: internal too)."""
    return queryset.filter(policy.visible_articles_filter(user), status=ArticleStatus.PUBLISHED)


def needs_sign_in(*, user: Any, article_id: int) -> bool:
    """Whether ``article_id`` is a published article ``user`` could read once signed in.

    The help center then asks a visitor to sign in instead of answering
    "not found" (only the need to sign in shows; nothing of the article).
    """
    visibility = (
        Article.objects.filter(pk=article_id, status=ArticleStatus.PUBLISHED)
        .values_list("visibility", flat=True)
        .first()
    )
    return visibility is not None and policy.article_needs_sign_in(user, visibility)


# The word of an old address (``/hc/en-us/sections/1``, ``/collection/1``) -> what it
# names here: Help Scout's collections are categories here, its categories sections.
OLD_ADDRESS_KINDS = {
    "zendesk": {"articles": "article", "sections": "section", "categories": "category"},
    "helpscout": {"article": "article", "category": "section", "collection": "category"},
}


def imported_object_id(*, source: str, address_kind: str, external_id: str) -> int | None:
    """The id of what an import brought from ``source`` ("zendesk", "helpscout") and its
    old address names (``address_kind``: "articles", "collection"...) under
    ``external_id``; None when nothing was (knowledge.imports)."""
    kind = OLD_ADDRESS_KINDS.get(source, {}).get(address_kind, "")
    models: dict[str, QuerySet[Any]] = {
        "article": Article.objects.all(),
        "section": Section.objects.all(),
        "category": Category.objects.all(),
    }
    if kind not in models:
        return None
    key = f"{source}:{kind}:{external_id}"
    found = models[kind].filter(imported_from=key).values_list("pk", flat=True).first()
    return int(found) if found is not None else None


def _help_center_articles(user: Any) -> QuerySet[Article]:
    """What the help center lists: published articles (internal ones only for staff)."""
    return visible_articles(user=user).filter(status=ArticleStatus.PUBLISHED)


# --- help center pages ----------------------------------------------------------------------


@dataclass
class SectionListing:
    section: Section
    name: str
    articles: list[Article]


@dataclass
class CategoryListing:
    category: Category
    name: str
    sections: list[SectionListing] = field(default_factory=list)

    @property
    def article_count(self) -> int:
        return sum(len(section.articles) for section in self.sections)


def help_center_tree(
    *, user: Any, locale: str, category_id: int | None = None, section_id: int | None = None
) -> list[CategoryListing]:
    """Categories with their sections and published articles (empty ones left out)."""
    articles = _with_text(_help_center_articles(user=user)).order_by("position", "-published_at")
    if category_id is not None:
        articles = articles.filter(section__category_id=category_id)
    if section_id is not None:
        articles = articles.filter(section_id=section_id)
    by_section: dict[int, list[Article]] = {}
    for article in localize(articles, locale):
        by_section.setdefault(article.section_id, []).append(article)
    listings: dict[int, CategoryListing] = {}
    sections = Section.objects.select_related("category").order_by(
        "category__position", "category__name", "position", "name"
    )
    for section in sections:
        if section.pk not in by_section:
            continue
        category = section.category
        listing = listings.setdefault(
            category.pk, CategoryListing(category=category, name=category.name_in(locale))
        )
        listing.sections.append(
            SectionListing(
                section=section, name=section.name_in(locale), articles=by_section[section.pk]
            )
        )
    return list(listings.values())


def get_category(*, user: Any, category_id: int) -> Category:
    category = list_categories(user=user).filter(pk=category_id).first()
    if category is None:
        raise NotFound("No such category.")
    return category


def get_section(*, user: Any, section_id: int) -> Section:
    section = list_sections(user=user).filter(pk=section_id).first()
    if section is None:
        raise NotFound("No such section.")
    return section


def popular_articles(*, user: Any, locale: str, limit: int = 6) -> list[Article]:
    """Promoted articles first, then the most viewed."""
    articles = _with_text(_help_center_articles(user=user)).order_by(
        "-is_promoted", "-view_count", "-published_at", "-id"
    )[:limit]
    return localize(articles, locale)


def related_articles(*, user: Any, article: Article, locale: str, limit: int = 5) -> list[Article]:
    """Articles sharing tags with ``article``, then others of its section."""
    candidates = _help_center_articles(user=user).exclude(pk=article.pk)
    tag_ids = list(article.tags.values_list("pk", flat=True))
    related_ids: list[int] = []
    if tag_ids:
        related_ids = list(
            candidates.filter(tags__in=tag_ids)
            .annotate(shared=Count("tags"))
            .order_by("-shared", "-view_count")
            .values_list("pk", flat=True)[:limit]
        )
    if len(related_ids) < limit:
        related_ids += list(
            candidates.filter(section_id=article.section_id)
            .exclude(pk__in=related_ids)
            .order_by("-view_count", "position")
            .values_list("pk", flat=True)[: limit - len(related_ids)]
        )
    found = {a.pk: a for a in _with_text(Article.objects.filter(pk__in=related_ids))}
    return localize([found[pk] for pk in related_ids if pk in found], locale)


def article_attachments(*, user: Any, article: Article) -> list[ArticleAttachment]:
    get_article(user=user, article_id=article.pk)
    return list(article.attachments.all())


def get_attachment(*, user: Any, attachment_id: int) -> ArticleAttachment:
    """A file of an article ``user`` may read; NotFound otherwise."""
    attachment = (
        ArticleAttachment.objects.filter(pk=attachment_id, article__in=visible_articles(user=user))
        .select_related("article")
        .first()
    )
    if attachment is None:
        raise NotFound("No such file.")
    return attachment


# --- search and suggestions ------------------------------------------------------------------


@dataclass
class ArticleHit:
    article: Article
    snippet_html: str  # escaped text with <mark> highlights only


def safe_snippet(html: str) -> str:
    """Keeps only ``<mark>`` of a search snippet: it is shown as HTML."""
    return nh3.clean(html, tags={"mark"}, attributes={})


def _search_service() -> Any:
    """The search app's service module, or None while it is not installed."""
    try:
        from concierge.search import services as search_services
    except ImportError:
        return None
    if not hasattr(search_services, "search"):
        return None
    return search_services


def _database_search(*, user: Any, query: str, limit: int) -> list[int]:
    """A plain LIKE search over every translation: used only when search is unavailable."""
    words = query.split()[:8]
    if not words:
        return []
    articles = _help_center_articles(user=user)
    condition = Q()
    for word in words:
        condition &= Q(title__icontains=word) | Q(body_source__icontains=word)
    matches = ArticleTranslation.objects.filter(condition, article__in=articles)
    title_hits = matches.filter(title__icontains=words[0])
    ordered: list[int] = []
    for queryset in (title_hits, matches):
        for article_id in queryset.order_by("-article__view_count").values_list(
            "article_id", flat=True
        )[: limit * 3]:
            if article_id not in ordered:
                ordered.append(article_id)
    return ordered[:limit]


def search_articles(
    *, user: Any, query: str, locale: str, limit: int = 20, suggest: bool = False
) -> list[ArticleHit]:
    """Published articles matching ``query``, best first, in the visitor's language."""
    query = " ".join(query.split())[:SEARCH_QUERY_MAX_CHARS]
    if not query:
        return []
    service = _search_service()
    if service is None:
        ids = _database_search(user=user, query=query, limit=limit)
    else:
        # No locale filter: every translation is indexed and any of them may match;
        # the visitor then reads their language, or its fallback. Customers and
        # visitors get the relevance cut-off (an off-topic question finds nothing
        # and shows in the "searches with no result" report); agents never do.
        try:
            if suggest and hasattr(service, "suggest_articles"):
                hits = service.suggest_articles(user=user, text=query, limit=limit)
            else:
                hits = service.search(
                    user=user,
                    query=query,
                    kinds=("article",),
                    limit=limit,
                    cut_off=not policy.is_staff(user),
                )
        except (OSError, RuntimeError):
            # The index or its model cannot be read (a missing model file, say): customers
            # still get the plain search rather than an error page.
            logger.exception("Article search failed; falling back to the database search")
            hits = []
            service = None
        ids = [hit.object_id for hit in hits if hit.kind == "article"]
        if service is None:
            ids = _database_search(user=user, query=query, limit=limit)
    # The policy decides again here: a stale index must never show a draft or internal article.
    published = _help_center_articles(user=user).filter(pk__in=ids)
    found = {a.pk: a for a in _with_text(published.select_related("section__category"))}
    articles = localize([found[pk] for pk in ids if pk in found], locale)
    hits_shown = []
    for article in articles:
        # Quoted from the translation the visitor reads (the index holds every
        # language of the article in one text), with the query's words marked.
        body_html = article.text.body_html  # type: ignore[attr-defined]
        snippet = _highlighted(plain_body(body_html), query) or excerpt(body_html)
        hits_shown.append(ArticleHit(article=article, snippet_html=safe_snippet(snippet)))
    return hits_shown


@dataclass(frozen=True)
class CategoryCount:
    category_id: int
    name: str
    count: int


def hits_per_category(hits: Sequence[ArticleHit], locale: str) -> list[CategoryCount]:
    """How many of the hits each category holds, most first (the results page's filter)."""
    counts: dict[int, int] = {}
    names: dict[int, str] = {}
    for hit in hits:
        category = hit.article.section.category
        counts[category.pk] = counts.get(category.pk, 0) + 1
        names[category.pk] = category.name_in(locale)
    return sorted(
        (CategoryCount(pk, names[pk], count) for pk, count in counts.items()),
        key=lambda row: (-row.count, row.name),
    )


def _highlighted(text: str, query: str) -> str:
    """An escaped excerpt of ``text`` around the query's words, marked; "" without search."""
    try:
        from concierge.search.text import highlight, query_terms
    except ImportError:  # the search app is not installed: plain excerpts
        return ""
    return highlight(text, query_terms(query), length=160)


def suggest_articles(*, user: Any, text: str, locale: str, limit: int = 5) -> list[ArticleHit]:
    """Articles that may answer a request being typed (subject and description)."""
    text = " ".join(text.split())
    if len(text) < 3:
        return []
    return search_articles(user=user, query=text[:500], locale=locale, limit=limit, suggest=True)


# --- agent views: listing, versions, diffs ------------------------------------------------------


@dataclass
class ArticleFilters:
    status: str = ""
    visibility: str = ""
    section_id: int | None = None
    text: str = ""
    due_for_review: bool = False
    flagged: bool = False  # with an open "needs an update" flag


def list_articles(*, user: Any, filters: ArticleFilters | None = None) -> QuerySet[Article]:
    """Articles for the authoring list and the API, newest change first."""
    filters = filters or ArticleFilters()
    articles = _with_text(visible_articles(user=user)).order_by("-updated_at", "-id")
    if filters.status:
        articles = articles.filter(status=filters.status)
    if filters.visibility:
        articles = articles.filter(visibility=filters.visibility)
    if filters.section_id:
        articles = articles.filter(section_id=filters.section_id)
    if filters.text:
        articles = articles.filter(translations__title__icontains=filters.text[:200]).distinct()
    if filters.due_for_review:
        articles = articles.filter(review_due_on__lte=timezone.now().date()).exclude(
            status=ArticleStatus.ARCHIVED
        )
    if policy.is_staff(user):  # flags are agents' notes
        open_flags = Count("flags", filter=Q(flags__resolved_at__isnull=True), distinct=True)
        articles = articles.annotate(open_flags=open_flags)
        if filters.flagged:
            articles = articles.filter(open_flags__gt=0)
    return articles


def list_categories(*, user: Any) -> QuerySet[Category]:
    """All categories for staff; for others those holding a published article they may read."""
    categories = Category.objects.prefetch_related("sections").order_by("position", "name")
    if policy.can_read_internal_articles(user):
        return categories
    shown = published_for(user, Article.objects.all()).values("section__category_id")
    return categories.filter(pk__in=shown)


def list_sections(*, user: Any) -> QuerySet[Section]:
    """All sections for staff; for others those holding a published article they may read."""
    sections = Section.objects.select_related("category").order_by(
        "category__position", "category__name", "position", "name"
    )
    if policy.can_read_internal_articles(user):
        return sections
    return sections.filter(pk__in=published_for(user, Article.objects.all()).values("section_id"))


def article_versions(*, user: Any, article: Article, locale: str = "") -> list[ArticleVersion]:
    policy.require(policy.can_read_internal_articles(user), "Only agents see article history.")
    versions = article.versions.select_related("author").order_by("locale", "-number")
    if locale:
        versions = versions.filter(locale=locale)
    return list(versions)


def get_version(*, user: Any, article: Article, version_id: int) -> ArticleVersion:
    policy.require(policy.can_read_internal_articles(user), "Only agents see article history.")
    version = article.versions.filter(pk=version_id).first()
    if version is None:
        raise NotFound("No such version.")
    return version


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "same", "hunk"
    text: str


def diff_versions(*, older: ArticleVersion, newer: ArticleVersion) -> list[DiffLine]:
    """A unified diff of two versions' title and markdown, as lines for an escaped template."""
    before = [f"# {older.title}", "", *older.body_source.splitlines()]
    after = [f"# {newer.title}", "", *newer.body_source.splitlines()]
    lines: list[DiffLine] = []
    for raw in difflib.unified_diff(before, after, lineterm="", n=3):
        if raw.startswith(("---", "+++")):
            continue
        if raw.startswith("@@"):
            lines.append(DiffLine("hunk", raw))
        elif raw.startswith("+"):
            lines.append(DiffLine("added", raw[1:]))
        elif raw.startswith("-"):
            lines.append(DiffLine("removed", raw[1:]))
        else:
            lines.append(DiffLine("same", raw[1:]))
    return lines


# --- deflection and reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class DayRate:
    day: date
    sessions: int
    self_served: int
    is_complete: bool  # the 24 h window of every session of the day has passed

    @property
    def rate(self) -> float | None:
        return self.self_served / self.sessions if self.sessions else None


def _content_sessions(start: datetime, now: datetime) -> QuerySet[HelpSession]:
    """Sessions whose first help content (an article view or a search) fell in the period."""
    return HelpSession.objects.filter(first_content_at__gte=start, first_content_at__lte=now)


# A session still counts as self-served when its request came before the content
# (it never counted) or more than 24 h after it.
OPENED_IN_WINDOW = Q(
    ticket_created_at__isnull=False,
    ticket_created_at__gte=F("first_content_at"),
    ticket_created_at__lte=F("first_content_at") + SELF_SERVICE_WINDOW,
)


def _period_start(now: datetime, days: int) -> datetime:
    return (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)


def self_service_rate_by_day(
    *, user: Any, days: int = 30, now: datetime | None = None, channel: str = ""
) -> list[DayRate]:
    """Per day: sessions that viewed help content, and those that opened no request within 24 h.

    A session belongs to the day of its first content event (an article view
    or a search). A request opened more than 24 h later does not undo the
    self-service; one opened before the content was seen never counted.
    ``channel`` keeps the help center's or the chat widget's sessions only.
    """
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    now = now or timezone.now()
    sessions = _content_sessions(_period_start(now, days), now)
    if channel:
        sessions = sessions.filter(channel=channel)
    rows = (
        sessions.annotate(day=TruncDate("first_content_at"))
        .values("day")
        .annotate(sessions=Count("pk"), escalated=Count("pk", filter=OPENED_IN_WINDOW))
        .order_by("day")
    )
    return [
        DayRate(
            day=row["day"],
            sessions=row["sessions"],
            self_served=row["sessions"] - row["escalated"],
            is_complete=datetime.combine(row["day"], datetime.min.time(), tzinfo=now.tzinfo)
            + timedelta(days=1)
            + SELF_SERVICE_WINDOW
            <= now,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ChannelRate:
    channel: str
    label: str
    sessions: int
    self_served: int

    @property
    def rate(self) -> float | None:
        return self.self_served / self.sessions if self.sessions else None


def self_service_by_channel(
    *, user: Any, days: int = 30, now: datetime | None = None
) -> list[ChannelRate]:
    """The period's self-service rate where the visit read its help: the help center's
    pages, or articles the chat widget suggested before the visitor asked for a person."""
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    now = now or timezone.now()
    rows = {
        row["channel"]: row
        for row in _content_sessions(_period_start(now, days), now)
        .values("channel")
        .annotate(sessions=Count("pk"), escalated=Count("pk", filter=OPENED_IN_WINDOW))
    }
    return [
        ChannelRate(
            channel=str(channel),
            label=str(label),
            sessions=rows[channel]["sessions"],
            self_served=rows[channel]["sessions"] - rows[channel]["escalated"],
        )
        for channel, label in HelpChannel.choices
        if channel in rows
    ]


@dataclass(frozen=True)
class SearchCount:
    query: str
    count: int
    results: int | None = None


def _search_events(since: datetime) -> QuerySet[HelpEvent]:
    return HelpEvent.objects.filter(kind=EventKind.SEARCH, created_at__gte=since)


def top_searches(*, user: Any, days: int = 30, limit: int = 20) -> list[SearchCount]:
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    since = timezone.now() - timedelta(days=days)
    rows = (
        _search_events(since)
        .values("query")
        .annotate(count=Count("pk"))
        .order_by("-count", "query")[:limit]
    )
    return [SearchCount(query=row["query"], count=row["count"]) for row in rows]


def searches_without_results(*, user: Any, days: int = 30, limit: int = 20) -> list[SearchCount]:
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    since = timezone.now() - timedelta(days=days)
    rows = (
        _search_events(since)
        .filter(result_count=0)
        .values("query")
        .annotate(count=Count("pk"))
        .order_by("-count", "query")[:limit]
    )
    return [SearchCount(query=row["query"], count=row["count"], results=0) for row in rows]


def least_helpful_articles(*, user: Any, limit: int = 10, minimum_votes: int = 1) -> list[Article]:
    """Articles with the largest share of "not helpful" votes (at least ``minimum_votes``)."""
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    articles = (
        _with_text(Article.objects.exclude(status=ArticleStatus.ARCHIVED))
        .annotate(votes_total=F("helpful_count") + F("unhelpful_count"))
        .filter(votes_total__gte=minimum_votes, unhelpful_count__gt=0)
    )
    ranked = sorted(
        articles,
        key=lambda a: (-a.unhelpful_count / max(1, a.votes_total), -a.unhelpful_count, a.pk),
    )
    return localize(ranked[:limit], help_center_settings().default_locale)


def articles_due_for_review(*, user: Any, limit: int = 50) -> list[Article]:
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    articles = list_articles(user=user, filters=ArticleFilters(due_for_review=True)).order_by(
        "review_due_on", "pk"
    )[:limit]
    return localize(articles, help_center_settings().default_locale)


def recent_comments(*, user: Any, limit: int = 20) -> list[ArticleVote]:
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    votes = list(
        ArticleVote.objects.exclude(comment="")
        .select_related("article")
        .prefetch_related(_translations("article__translations"))
        .order_by("-updated_at")[:limit]
    )
    # Each comment's article by its title (``article.text``), as the other reports show them.
    localize((vote.article for vote in votes), help_center_settings().default_locale)
    return votes


# --- sitemap ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SitemapEntry:
    article_id: int
    locale: str
    slug: str
    updated_at: datetime


def sitemap_entries() -> list[SitemapEntry]:
    """Every translation of every published public article: what search engines may crawl."""
    translations = ArticleTranslation.objects.filter(
        article__status=ArticleStatus.PUBLISHED, article__visibility=Visibility.PUBLIC
    ).order_by("article_id", "locale")
    return [
        SitemapEntry(article_id=t.article_id, locale=t.locale, slug=t.slug, updated_at=t.updated_at)
        for t in translations
    ]


def translations_of(*, user: Any, article: Article) -> Sequence[ArticleTranslation]:
    get_article(user=user, article_id=article.pk)
    return list(article.translations.all())


# --- following ---------------------------------------------------------------------------------


def can_read_article(*, user: Any, article_id: int) -> bool:
    """Whether ``user`` reads this article in the help center now (published, and for them)."""
    return _help_center_articles(user=user).filter(pk=article_id).exists()


def is_following(
    *, user: Any, article: Article | None = None, section: Section | None = None
) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if article is not None:
        return HelpSubscription.objects.filter(user=user, article=article).exists()
    return HelpSubscription.objects.filter(user=user, section=section).exists()


@dataclass(frozen=True)
class Followed:
    subscription: HelpSubscription
    name: str
    kind: str  # "article" or "section"
    article: Article | None = None
    section: Section | None = None


def followed_by(*, user: Any, locale: str) -> list[Followed]:
    """What ``user`` follows and may still read, newest first (their "Following" page)."""
    if not getattr(user, "is_authenticated", False):
        return []
    subscriptions = list(
        HelpSubscription.objects.filter(user=user).select_related("section").order_by("-pk")
    )
    article_ids = [s.article_id for s in subscriptions if s.article_id]
    readable = {
        a.pk: a
        for a in localize(
            _with_text(_help_center_articles(user=user).filter(pk__in=article_ids)), locale
        )
    }
    section_ids = [s.section_id for s in subscriptions if s.section_id]
    sections = set(list_sections(user=user).filter(pk__in=section_ids).values_list("pk", flat=True))
    found: list[Followed] = []
    for subscription in subscriptions:
        if subscription.article_id in readable:
            article = readable[subscription.article_id]
            title = article.text.title  # type: ignore[attr-defined]
            found.append(Followed(subscription, title, "article", article=article))
        elif subscription.section is not None and subscription.section_id in sections:
            section = subscription.section
            found.append(
                Followed(subscription, section.name_in(locale), "section", section=section)
            )
    return found


def public_name_of(subscription: HelpSubscription) -> str:
    """What an unfollow link may call the followed article or section: whoever holds the
    link may not be signed in, so a name is given only when anyone may read it (an
    article made agents-only since stays "an article")."""
    from django.contrib.auth.models import AnonymousUser

    anyone = AnonymousUser()
    article, section = subscription.article, subscription.section
    if article is not None:
        text = article.translations.filter(locale=article.source_locale).first()
        readable = can_read_article(user=anyone, article_id=article.pk)
        return f"“{text.title}”" if readable and text else "an article"
    if section is not None and list_sections(user=anyone).filter(pk=section.pk).exists():
        return f"“{section.name}”"
    return "a section"


def suggest_articles_for_ticket(
    *, user: Any, ticket_id: int, locale: str, limit: int = 5
) -> list[ArticleHit]:
    """Articles that may answer a ticket: its subject and the customer's first message,
    as the agent may read them (NotFound for a ticket they may not)."""
    from concierge.core.sanitize import plain_text
    from concierge.tickets import services as ticket_services
    from concierge.tickets.models import EntryKind

    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    first = (
        ticket_services.visible_entries(user=user, ticket=ticket)
        .filter(kind=EntryKind.PUBLIC_REPLY, author_customer__isnull=False)
        .order_by("created_at", "pk")
        .first()
    )
    question = f"{ticket.subject}. {plain_text(first.body_html, limit=1000) if first else ''}"
    return suggest_articles(user=user, text=question, locale=locale, limit=limit)


def unreadable_by_requester(*, user: Any, ticket_id: int, article_ids: list[int]) -> set[int]:
    """Which of ``article_ids`` the ticket's requester could not read, even signed in
    (agents only, drafts, or for organizations other than theirs): the composer
    says so before an agent sends them a link to it."""
    from concierge.tickets import services as ticket_services

    ticket = ticket_services.get_ticket(user=user, ticket_id=ticket_id)
    organization_id = ticket.requester.organization_id if ticket.requester_id else None
    readable = Article.objects.filter(
        policy.customer_articles_filter(signed_in=True, organization_id=organization_id),
        pk__in=article_ids,
    ).values_list("pk", flat=True)
    return set(article_ids) - set(readable)


def follower_count(*, user: Any, article: Article) -> int:
    """How many follow the article (staff only: who reads what is not for customers)."""
    policy.require(policy.is_staff(user), "Only staff see followers.")
    return HelpSubscription.objects.filter(article=article).count()


# --- flags ------------------------------------------------------------------------------------

RESOLVED_FLAGS_SHOWN = 10


def article_flags(*, user: Any, article: Article) -> list[ArticleFlag]:
    """The article's open flags, then the last few resolved (staff only: agents' notes)."""
    policy.require(policy.is_staff(user), "Only staff read flags.")
    flags = article.flags.select_related("flagged_by", "resolved_by", "ticket")
    return [
        *flags.filter(resolved_at__isnull=True),
        *flags.filter(resolved_at__isnull=False).order_by("-resolved_at")[:RESOLVED_FLAGS_SHOWN],
    ]


def get_flag(*, user: Any, flag_id: int) -> ArticleFlag:
    policy.require(policy.is_staff(user), "Only staff read flags.")
    flag = ArticleFlag.objects.select_related("article").filter(pk=flag_id).first()
    if flag is None:
        raise NotFound("No such flag.")
    return flag


def flagged_articles(*, user: Any, limit: int = 20) -> list[Article]:
    """Articles with open flags, the most recently flagged first, with their count."""
    policy.require(policy.can_view_knowledge_reports(user), "Only admins see help center reports.")
    open_flags = Q(flags__resolved_at__isnull=True)
    articles = (
        _with_text(Article.objects.filter(open_flags))
        .annotate(
            open_flags=Count("flags", filter=open_flags),
            last_flagged=Max("flags__created_at", filter=open_flags),
        )
        .order_by("-last_flagged", "-id")[:limit]
    )
    return localize(articles, help_center_settings().default_locale)


# --- imports started from the workspace --------------------------------------------------------

RECENT_IMPORTS = 20


def recent_imports(*, user: Any) -> list[HelpCenterImport]:
    """The last runs, newest first (admins only: they name the source's account)."""
    policy.require(policy.can_manage_help_center(user), "Only admins import a help center.")
    return list(
        HelpCenterImport.objects.select_related("created_by").defer("api_secret")[:RECENT_IMPORTS]
    )


def get_import(*, user: Any, import_id: int) -> HelpCenterImport:
    policy.require(policy.can_manage_help_center(user), "Only admins import a help center.")
    found = HelpCenterImport.objects.defer("api_secret").filter(pk=import_id).first()
    if found is None:
        raise NotFound("No such import.")
    return found
