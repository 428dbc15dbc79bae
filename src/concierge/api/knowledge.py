"""The knowledge base: categories, sections and articles.

Staff manage them (admins the categories and sections, agents the articles);
everyone, anonymous callers included, reads what the help center publishes:
published articles visible to everyone, and the categories and sections
that hold them. Staff also read drafts, archived and agents-only articles.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema

from concierge.api.auth import ApiTokenAuth, SessionCookieAuth, current_user
from concierge.api.idempotency import idempotent_create
from concierge.api.schemas import ERRORS, dump
from concierge.api.tickets import IdempotencyKey
from concierge.core import policy
from concierge.core.errors import NotFound
from concierge.knowledge import actions, services
from concierge.knowledge.models import Article, ArticleStatus, Category, Section, Visibility

router = Router(tags=["knowledge base"])

PAGE_MAX = 100


class PublicReader:
    """Lets a caller with no credential read as an anonymous visitor.

    A request that sends an ``Authorization`` header is judged by it alone,
    so a bad token still answers 401 instead of reading as anonymous.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if "authorization" in request.headers:
            return None
        return AnonymousUser()


ANONYMOUS_NOTE = "No credential needed: anonymous callers read what the help center publishes."
# Reads of published content: tokens, sessions, or nobody at all.
PUBLIC_READ = [ApiTokenAuth(), SessionCookieAuth(), PublicReader()]


# --- shapes -------------------------------------------------------------------------------


class CategoryOut(Schema):
    id: int
    name: str
    slug: str
    description: str
    position: int
    name_translations: dict[str, str]


class SectionOut(CategoryOut):
    category_id: int


class StructureIn(Schema):
    name: str | None = Field(None, max_length=120)
    slug: str | None = Field(None, max_length=140)
    description: str | None = Field(None, max_length=300)
    position: int | None = Field(None, ge=0)
    name_translations: dict[str, str] | None = None


class SectionIn(StructureIn):
    category_id: int | None = None


class ArticleOut(Schema):
    id: int
    section_id: int
    category_id: int
    status: str
    visibility: str
    organization_ids: list[int] | None = Field(
        None,
        description="With visibility organizations: whose customers read it (staff only; "
        "null for customers).",
    )
    source_locale: str
    locale: str = Field(description="The locale of the text below (the fallback when missing).")
    title: str
    slug: str
    description: str
    body_markdown: str
    body_html: str
    url: str
    tags: list[str]
    translations: list[str]
    owner_id: int | None
    review_due_on: date | None
    reviewed_at: datetime | None = Field(None, description="When it was last marked as reviewed.")
    is_promoted: bool
    published_at: datetime | None
    updated_at: datetime
    view_count: int
    helpful_count: int
    unhelpful_count: int


class ArticlePage(Schema):
    items: list[ArticleOut]
    next_offset: int | None


class ArticleIn(Schema):
    section_id: int | None = None
    locale: str | None = Field(None, max_length=10, description="The text's locale.")
    title: str | None = Field(None, max_length=200)
    body: str | None = Field(None, description="Markdown.")
    description: str | None = Field(None, max_length=300)
    status: str | None = Field(None, description="draft, published or archived.")
    visibility: str | None = Field(
        None,
        description="public (everyone), signed_in (customers signed in to the portal), "
        "organizations (customers of the organizations in organization_ids) "
        "or internal (agents only).",
    )
    organization_ids: list[int] | None = Field(
        None,
        max_length=200,
        description="With visibility organizations: the organizations whose customers read "
        "it (at least one). Another visibility clears the list.",
    )
    tags: list[str] | None = Field(None, max_length=50)
    owner_id: int | None = None
    review_due_on: date | None = None
    position: int | None = Field(None, ge=0)
    is_promoted: bool | None = None


class VersionOut(Schema):
    id: int
    locale: str
    number: int
    title: str
    body_markdown: str
    author_id: int | None
    restored_from_id: int | None
    created_at: datetime


def _article_out(article: Article, request: HttpRequest) -> dict[str, Any]:
    text = article.text  # type: ignore[attr-defined]
    is_staff = policy.is_staff(current_user(request))
    return {
        "id": article.pk,
        "section_id": article.section_id,
        "category_id": article.section.category_id,
        "status": article.status,
        "visibility": article.visibility,
        # Which organizations an article is for is the team's business, not a reader's.
        "organization_ids": (
            sorted(article.organizations.values_list("pk", flat=True))
            if is_staff and article.visibility == Visibility.ORGANIZATIONS
            else []
            if is_staff
            else None
        ),
        "source_locale": article.source_locale,
        "locale": text.locale,
        "title": text.title,
        "slug": text.slug,
        "description": text.description,
        "body_markdown": text.body_source,
        "body_html": text.body_html,
        "url": request.build_absolute_uri(
            reverse("portal:help_article", args=[article.pk, text.slug])
        ),
        "tags": [tag.name for tag in article.tags.all()],
        "translations": [translation.locale for translation in article.translations.all()],
        "owner_id": article.owner_id if is_staff else None,
        "review_due_on": article.review_due_on if is_staff else None,
        "reviewed_at": article.reviewed_at if is_staff else None,
        "is_promoted": article.is_promoted,
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "view_count": article.view_count,
        "helpful_count": article.helpful_count,
        "unhelpful_count": article.unhelpful_count,
    }


def _version_out(version: Any) -> dict[str, Any]:
    return {
        "id": version.pk,
        "locale": version.locale,
        "number": version.number,
        "title": version.title,
        "body_markdown": version.body_source,
        "author_id": version.author_id,
        "restored_from_id": version.restored_from_id,
        "created_at": version.created_at,
    }


def _changes(payload: Schema) -> dict[str, Any]:
    return {key: value for key, value in payload.model_dump(exclude_unset=True).items()}


def _localized(request: HttpRequest, article_id: int, locale: str) -> dict[str, Any]:
    user = current_user(request)
    locale = locale or services.help_center_settings().default_locale
    article = services.get_localized_article(user=user, article_id=article_id, locale=locale)
    return _article_out(article, request)


# --- categories ---------------------------------------------------------------------------


@router.get(
    "/categories",
    response={200: list[CategoryOut], **ERRORS},
    auth=PUBLIC_READ,
    summary="List categories",
    description=ANONYMOUS_NOTE,
)
def list_kb_categories(request: HttpRequest) -> Any:
    return services.list_categories(user=current_user(request))


@router.post(
    "/categories", response={201: CategoryOut, **ERRORS}, summary="Create a category (admins)"
)
def create_kb_category(
    request: HttpRequest, payload: StructureIn, idempotency_key: str | None = IdempotencyKey
) -> Any:
    def create() -> tuple[int, dict[str, Any]]:
        category = actions.save_category(actor=current_user(request), changes=_changes(payload))
        return 201, dump(CategoryOut, category, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.patch(
    "/categories/{int:category_id}",
    response={200: CategoryOut, **ERRORS},
    summary="Update a category (admins)",
)
def update_kb_category(request: HttpRequest, category_id: int, payload: StructureIn) -> Any:
    user = current_user(request)
    category = services.get_category(user=user, category_id=category_id)
    return actions.save_category(actor=user, category=category, changes=_changes(payload))


@router.delete(
    "/categories/{int:category_id}",
    response={204: None, **ERRORS},
    summary="Delete an empty category (admins)",
)
def delete_kb_category(request: HttpRequest, category_id: int) -> Any:
    user = current_user(request)
    category: Category = services.get_category(user=user, category_id=category_id)
    actions.delete_category(actor=user, category=category)
    return 204, None


# --- sections --------------------------------------------------------------------------------


@router.get(
    "/sections",
    response={200: list[SectionOut], **ERRORS},
    auth=PUBLIC_READ,
    summary="List sections",
    description=ANONYMOUS_NOTE,
)
def list_kb_sections(request: HttpRequest) -> Any:
    return services.list_sections(user=current_user(request))


@router.post("/sections", response={201: SectionOut, **ERRORS}, summary="Create a section (admins)")
def create_kb_section(
    request: HttpRequest, payload: SectionIn, idempotency_key: str | None = IdempotencyKey
) -> Any:
    def create() -> tuple[int, dict[str, Any]]:
        section = actions.save_section(actor=current_user(request), changes=_changes(payload))
        return 201, dump(SectionOut, section, request)

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.patch(
    "/sections/{int:section_id}",
    response={200: SectionOut, **ERRORS},
    summary="Update a section (admins)",
)
def update_kb_section(request: HttpRequest, section_id: int, payload: SectionIn) -> Any:
    user = current_user(request)
    section = services.get_section(user=user, section_id=section_id)
    return actions.save_section(actor=user, section=section, changes=_changes(payload))


@router.delete(
    "/sections/{int:section_id}",
    response={204: None, **ERRORS},
    summary="Delete an empty section (admins)",
)
def delete_kb_section(request: HttpRequest, section_id: int) -> Any:
    user = current_user(request)
    section: Section = services.get_section(user=user, section_id=section_id)
    actions.delete_section(actor=user, section=section)
    return 204, None


# --- articles --------------------------------------------------------------------------------


@router.get(
    "/articles",
    response={200: ArticlePage, **ERRORS},
    auth=PUBLIC_READ,
    summary="List articles",
    description="Customers and anonymous callers (no credential needed) get published "
    "articles visible to everyone; staff get every article and may filter by status.",
)
def list_kb_articles(
    request: HttpRequest,
    q: str = Query("", max_length=200, description="Words of the title."),
    status: str = Query("", description="draft, published or archived (staff)."),
    section_id: int | None = Query(None),
    locale: str = Query("", max_length=10),
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=PAGE_MAX),
) -> dict[str, Any]:
    user = current_user(request)
    filters = services.ArticleFilters(
        status=status if status in ArticleStatus.values else "", section_id=section_id, text=q
    )
    articles = services.list_articles(user=user, filters=filters)
    if not policy.is_staff(user):
        articles = services.published_for(user, articles)
    rows = list(articles[offset : offset + limit + 1])
    locale = locale or services.help_center_settings().default_locale
    shown = services.localize(rows[:limit], locale)
    return {
        "items": [_article_out(article, request) for article in shown],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.post("/articles", response={201: ArticleOut, **ERRORS}, summary="Create an article")
def create_kb_article(
    request: HttpRequest, payload: ArticleIn, idempotency_key: str | None = IdempotencyKey
) -> Any:
    def create() -> tuple[int, dict[str, Any]]:
        article = actions.create_article(actor=current_user(request), changes=_changes(payload))
        body = _localized(request, article.pk, article.source_locale)
        return 201, ArticleOut.model_validate(body).model_dump(mode="json")

    return idempotent_create(request, payload=payload.model_dump(mode="json"), create=create)


@router.get(
    "/articles/{int:article_id}",
    response={200: ArticleOut, **ERRORS},
    auth=PUBLIC_READ,
    summary="Get an article in a locale (with fallback)",
    description=ANONYMOUS_NOTE,
)
def get_kb_article(
    request: HttpRequest, article_id: int, locale: str = Query("", max_length=10)
) -> Any:
    return _localized(request, article_id, locale)


@router.patch(
    "/articles/{int:article_id}",
    response={200: ArticleOut, **ERRORS},
    summary="Update an article or one of its translations",
    description="Text fields (title, body, description) change the translation named by "
    "`locale` (created when missing); every text change adds a version.",
)
def update_kb_article(request: HttpRequest, article_id: int, payload: ArticleIn) -> Any:
    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    changes = _changes(payload)
    locale = changes.pop("locale", None) or article.source_locale
    actions.update_article(actor=user, article=article, changes=changes, locale=locale)
    return _localized(request, article.pk, locale)


@router.delete(
    "/articles/{int:article_id}", response={204: None, **ERRORS}, summary="Delete an article"
)
def delete_kb_article(request: HttpRequest, article_id: int) -> Any:
    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    actions.delete_article(actor=user, article=article)
    return 204, None


@router.get(
    "/articles/{int:article_id}/versions",
    response={200: list[VersionOut], **ERRORS},
    summary="List an article's versions (staff)",
)
def list_kb_article_versions(
    request: HttpRequest, article_id: int, locale: str = Query("", max_length=10)
) -> Any:
    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    return [
        _version_out(version)
        for version in services.article_versions(user=user, article=article, locale=locale)
    ]


@router.post(
    "/articles/{int:article_id}/versions/{int:version_id}/restore",
    response={201: VersionOut, **ERRORS},
    summary="Restore a version (as a new version)",
)
def restore_kb_article_version(
    request: HttpRequest,
    article_id: int,
    version_id: int,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    version = services.get_version(user=user, article=article, version_id=version_id)

    def create() -> tuple[int, dict[str, Any]]:
        restored = actions.restore_version(actor=user, version=version)
        return 201, VersionOut.model_validate(_version_out(restored)).model_dump(mode="json")

    payload = {"article_id": article_id, "version_id": version_id}
    return idempotent_create(request, payload=payload, create=create)


@router.post(
    "/articles/{int:article_id}/review",
    response={200: ArticleOut, **ERRORS},
    summary="Mark an article as reviewed (still right): its next review date moves on",
)
def review_kb_article(
    request: HttpRequest, article_id: int, idempotency_key: str | None = IdempotencyKey
) -> Any:
    # Marking twice only moves the dates again; the key is accepted like on every POST.
    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    actions.mark_reviewed(actor=user, article=article)
    return _localized(request, article.pk, article.source_locale)


# --- flags: "this article needs an update" (staff) ----------------------------------------------


class FlagIn(Schema):
    note: str = Field(..., min_length=1, max_length=actions.FLAG_NOTE_MAX_CHARS)
    ticket_id: int | None = Field(None, description="The request being answered, if any.")


class FlagOut(Schema):
    id: int
    article_id: int
    note: str
    flagged_by: str | None
    ticket_id: int | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


def _flag_out(flag: Any) -> dict[str, Any]:
    return {
        "id": flag.pk,
        "article_id": flag.article_id,
        "note": flag.note,
        "flagged_by": flag.flagged_by.name if flag.flagged_by else None,
        "ticket_id": flag.ticket_id,
        "created_at": flag.created_at,
        "resolved_at": flag.resolved_at,
        "resolved_by": flag.resolved_by.name if flag.resolved_by else None,
    }


@router.get(
    "/articles/{int:article_id}/flags",
    response={200: list[FlagOut], **ERRORS},
    summary="List an article's flags: open ones, then the last resolved (staff)",
)
def list_kb_article_flags(request: HttpRequest, article_id: int) -> Any:
    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    return [_flag_out(flag) for flag in services.article_flags(user=user, article=article)]


@router.post(
    "/articles/{int:article_id}/flags",
    response={201: FlagOut, **ERRORS},
    summary="Flag an article for an update (staff; its owner is notified)",
)
def flag_kb_article(
    request: HttpRequest,
    article_id: int,
    payload: FlagIn,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    from concierge.tickets import services as ticket_services

    user = current_user(request)
    article = services.get_article(user=user, article_id=article_id)
    ticket = (
        ticket_services.get_ticket(user=user, ticket_id=payload.ticket_id)
        if payload.ticket_id
        else None
    )

    def create() -> tuple[int, dict[str, Any]]:
        flag = actions.flag_article(actor=user, article=article, note=payload.note, ticket=ticket)
        return 201, FlagOut.model_validate(_flag_out(flag)).model_dump(mode="json")

    body = {"article_id": article_id, **payload.model_dump(mode="json")}
    return idempotent_create(request, payload=body, create=create)


@router.post(
    "/flags/{int:flag_id}/resolve",
    response={200: FlagOut, **ERRORS},
    summary="Resolve a flag (agents who write articles)",
)
def resolve_kb_flag(
    request: HttpRequest, flag_id: int, idempotency_key: str | None = IdempotencyKey
) -> Any:
    # Resolving is idempotent by itself (a second call changes nothing); the key is
    # accepted like on every POST.
    user = current_user(request)
    flag = services.get_flag(user=user, flag_id=flag_id)
    return _flag_out(actions.resolve_flag(actor=user, flag=flag))


# --- following (signed-in readers) --------------------------------------------------------------


@router.put(
    "/articles/{int:article_id}/follow",
    response={204: None, **ERRORS},
    summary="Follow an article: an email when it changes",
)
def follow_kb_article(request: HttpRequest, article_id: int) -> Any:
    user = current_user(request)
    article = _readable_article(user, article_id)
    actions.follow(actor=user, article=article)
    return 204, None


@router.delete(
    "/articles/{int:article_id}/follow",
    response={204: None, **ERRORS},
    summary="Stop following an article",
)
def unfollow_kb_article(request: HttpRequest, article_id: int) -> Any:
    user = current_user(request)
    actions.unfollow(actor=user, article=_readable_article(user, article_id))
    return 204, None


@router.put(
    "/sections/{int:section_id}/follow",
    response={204: None, **ERRORS},
    summary="Follow a section: an email when a new article is published in it",
)
def follow_kb_section(request: HttpRequest, section_id: int) -> Any:
    user = current_user(request)
    section = services.get_section(user=user, section_id=section_id)
    actions.follow(actor=user, section=section)
    return 204, None


@router.delete(
    "/sections/{int:section_id}/follow",
    response={204: None, **ERRORS},
    summary="Stop following a section",
)
def unfollow_kb_section(request: HttpRequest, section_id: int) -> Any:
    user = current_user(request)
    actions.unfollow(actor=user, section=services.get_section(user=user, section_id=section_id))
    return 204, None


def _readable_article(user: Any, article_id: int) -> Article:
    """The article as the help center shows it to ``user`` (NotFound otherwise)."""
    if not services.can_read_article(user=user, article_id=article_id):
        raise NotFound("No such article.")
    return Article.objects.get(pk=article_id)
