"""Every write to the knowledge base and the help center's records of use.

Authoring actions take the acting user (``actor``) and ask ``core.policy``
first, so a refused call changes nothing. Each change to an article's text
adds a version; each article write asks the search index to refresh that
article once the transaction commits.

Visitor actions (events, votes, request links) take a help session key
instead of a user: the help center is public, and what is recorded is the
visit, not the person.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from concierge.core import policy
from concierge.core.errors import LimitExceeded, NotFound, PermissionDenied, ValidationFailed
from concierge.core.tags import normalize_tags, tags_named
from concierge.knowledge.content import article_slug, plain_body, render_article_body
from concierge.knowledge.locales import normalize_locale
from concierge.knowledge.models import (
    Article,
    ArticleAttachment,
    ArticleFlag,
    ArticleSlugHistory,
    ArticleStatus,
    ArticleTranslation,
    ArticleVersion,
    ArticleVote,
    Category,
    EventKind,
    HelpCenterSettings,
    HelpChannel,
    HelpEvent,
    HelpSession,
    HelpSubscription,
    Section,
    Visibility,
)
from concierge.tickets.actions import NewAttachment, validate_attachments

TITLE_MAX_CHARS = 200
BODY_MAX_CHARS = 200_000
DESCRIPTION_MAX_CHARS = 300
NAME_MAX_CHARS = 120
COMMENT_MAX_CHARS = 2_000
SEARCH_QUERY_MAX_CHARS = 200
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Visitors' writes are bounded per session and per address (one hour windows).
VOTES_PER_HOUR_PER_ADDRESS = 30
EVENTS_PER_HOUR_PER_SESSION = 300
EVENTS_PER_HOUR_PER_ADDRESS = 3_000
LOGO_MAX_BYTES = 1024 * 1024
LOGO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}

ARTICLE_FIELDS = {
    "section_id", "status", "visibility", "organization_ids", "owner_id", "review_due_on",
    "position", "is_promoted", "tags",
}  # fmt: skip
# Organizations one article may be for (a longer list is a sign the article is
# for signed-in customers, or that organizations need a tag-based segment).
ARTICLE_ORGANIZATIONS_MAX = 200
TEXT_FIELDS = {"title", "body", "description"}


# --- indexing --------------------------------------------------------------------------


def _reindex(article_ids: Sequence[int]) -> None:
    """Asks the search index to refresh these articles after the commit."""
    try:
        from concierge.search.actions import schedule_index
    except ImportError:  # the search app is not built yet: nothing to refresh
        return
    schedule_index(kind="article", object_ids=list(article_ids))


# --- categories and sections -------------------------------------------------------------


def _clean_name(value: Any, field: str) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationFailed("A name is required.", field_errors={field: ["Required."]})
    if len(name) > NAME_MAX_CHARS:
        raise LimitExceeded(f"The name is {len(name)} characters; the limit is {NAME_MAX_CHARS}.")
    return name


def _clean_translations(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            "Translated names must map a locale to a name.",
            field_errors={"name_translations": ["Expected {locale: name}."]},
        )
    cleaned = {}
    for locale, name in value.items():
        normalized = normalize_locale(str(locale))
        if not normalized:
            raise ValidationFailed(
                f"Unknown locale {locale!r}.", field_errors={"name_translations": ["Bad locale."]}
            )
        cleaned[normalized] = _clean_name(name, "name_translations")
    return cleaned


def _apply_structure_changes(target: Category | Section, changes: dict[str, Any]) -> None:
    if "name" in changes or not target.pk:
        target.name = _clean_name(changes.get("name", target.name), "name")
        if not changes.get("slug"):
            target.slug = slugify(target.name)[:140] or "untitled"
    if changes.get("slug"):
        target.slug = slugify(str(changes["slug"]))[:140] or target.slug
    if "description" in changes:
        description = " ".join(str(changes["description"] or "").split())
        if len(description) > DESCRIPTION_MAX_CHARS:
            raise LimitExceeded(f"The description is over {DESCRIPTION_MAX_CHARS} characters.")
        target.description = description
    if "position" in changes and changes["position"] is not None:
        target.position = max(0, int(changes["position"]))
    if "name_translations" in changes:
        target.name_translations = _clean_translations(changes["name_translations"])


@transaction.atomic
def save_category(
    *, actor: Any, category: Category | None = None, changes: dict[str, Any]
) -> Category:
    policy.require(policy.can_manage_help_center(actor), "Only admins organize the help center.")
    category = category or Category()
    _apply_structure_changes(category, changes)
    category.save()
    return category


@transaction.atomic
def delete_category(*, actor: Any, category: Category) -> None:
    policy.require(policy.can_manage_help_center(actor), "Only admins organize the help center.")
    if category.sections.exists():
        raise ValidationFailed("Move or delete this category's sections first.")
    category.delete()


@transaction.atomic
def save_section(*, actor: Any, section: Section | None = None, changes: dict[str, Any]) -> Section:
    policy.require(policy.can_manage_help_center(actor), "Only admins organize the help center.")
    section = section or Section()
    if "category_id" in changes or not section.pk:
        category_id = changes.get("category_id")
        category = Category.objects.filter(pk=category_id).first() if category_id else None
        if category is None:
            raise ValidationFailed(
                "Choose a category.", field_errors={"category_id": ["Unknown category."]}
            )
        section.category = category
    _apply_structure_changes(section, changes)
    section.save()
    _reindex(list(section.articles.values_list("pk", flat=True)))
    return section


@transaction.atomic
def delete_section(*, actor: Any, section: Section) -> None:
    policy.require(policy.can_manage_help_center(actor), "Only admins organize the help center.")
    if section.articles.exists():
        raise ValidationFailed("Move or delete this section's articles first.")
    section.delete()


# --- articles ---------------------------------------------------------------------------------


def _clean_text(changes: dict[str, Any], translation: ArticleTranslation | None) -> dict[str, str]:
    title = " ".join(str(changes.get("title", translation.title if translation else "")).split())
    # Browsers send a textarea's lines ending in CRLF: stored as "\n", so saving an
    # article unchanged from the editor makes no new version, and diffs compare lines.
    body = str(changes.get("body", translation.body_source if translation else ""))
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    description = " ".join(
        str(changes.get("description", translation.description if translation else "")).split()
    )
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = ["Required."]
    if not body.strip():
        errors["body"] = ["Required."]
    if errors:
        raise ValidationFailed("A title and a body are required.", field_errors=errors)
    if len(title) > TITLE_MAX_CHARS:
        raise LimitExceeded(
            f"The title is {len(title)} characters; the limit is {TITLE_MAX_CHARS}."
        )
    if len(body) > BODY_MAX_CHARS:
        raise LimitExceeded(f"The body is {len(body)} characters; the limit is {BODY_MAX_CHARS}.")
    if len(description) > DESCRIPTION_MAX_CHARS:
        raise LimitExceeded(
            f"The description is {len(description)} characters; "
            f"the limit is {DESCRIPTION_MAX_CHARS}."
        )
    return {"title": title, "body": body, "description": description}


def _apply_article_fields(article: Article, changes: dict[str, Any]) -> list[str]:
    """Sets the article's own fields from ``changes``; returns the tag names to set, if any."""
    unknown = set(changes) - ARTICLE_FIELDS - TEXT_FIELDS - {"locale"}
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if "section_id" in changes:
        section = Section.objects.filter(pk=changes["section_id"]).first()
        if section is None:
            raise ValidationFailed(
                "Choose a section.", field_errors={"section_id": ["Unknown section."]}
            )
        article.section = section
    if "status" in changes:
        if changes["status"] not in ArticleStatus.values:
            raise ValidationFailed("Unknown status.", field_errors={"status": ["Unknown value."]})
        article.status = changes["status"]
    if "visibility" in changes:
        if changes["visibility"] not in Visibility.values:
            raise ValidationFailed(
                "Unknown visibility.",
                field_errors={"visibility": [f"One of: {', '.join(Visibility.values)}."]},
            )
        article.visibility = changes["visibility"]
    if "owner_id" in changes:
        owner_id = changes["owner_id"]
        if owner_id is not None:
            from concierge.accounts.models import User

            owner = User.objects.filter(pk=owner_id).first()
            if owner is None or not policy.is_staff(owner):
                raise ValidationFailed(
                    "The owner must be an agent.", field_errors={"owner_id": ["Not an agent."]}
                )
        article.owner_id = owner_id
    if "review_due_on" in changes:
        value = changes["review_due_on"]
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value) if value else None
            except ValueError as error:
                raise ValidationFailed(
                    "Use a date like 2026-12-31.", field_errors={"review_due_on": ["Bad date."]}
                ) from error
        article.review_due_on = value
    if "position" in changes and changes["position"] is not None:
        article.position = max(0, int(changes["position"]))
    if "is_promoted" in changes:
        article.is_promoted = bool(changes["is_promoted"])
    if article.status == ArticleStatus.PUBLISHED and article.published_at is None:
        article.published_at = timezone.now()
    if "tags" in changes:
        return normalize_tags(changes["tags"] or [])
    return []


def _chosen_organizations(article: Article, changes: dict[str, Any]) -> list[int] | None:
    """The organizations to set on the article after ``changes``; None: leave them.

    An article for chosen organizations needs at least one; any other
    visibility clears the list, so an article made public and later
    restricted again starts from an empty choice rather than a forgotten one.
    """
    if article.visibility != Visibility.ORGANIZATIONS:
        return [] if "visibility" in changes else None
    if "organization_ids" not in changes:
        if article.pk is not None and article.organizations.exists():
            return None
        raise ValidationFailed(
            "Choose the organizations whose customers read this article.",
            field_errors={"organization_ids": ["Choose at least one organization."]},
        )
    raw = changes["organization_ids"]
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple, set)):
        raise ValidationFailed(
            "organization_ids must be a list of organization ids.",
            field_errors={"organization_ids": ["A list of ids."]},
        )
    try:
        wanted = sorted({int(value) for value in raw})
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            "organization_ids must be a list of organization ids.",
            field_errors={"organization_ids": ["A list of ids."]},
        ) from error
    if not wanted:
        raise ValidationFailed(
            "Choose the organizations whose customers read this article.",
            field_errors={"organization_ids": ["Choose at least one organization."]},
        )
    if len(wanted) > ARTICLE_ORGANIZATIONS_MAX:
        raise LimitExceeded(
            f"An article may be for at most {ARTICLE_ORGANIZATIONS_MAX} organizations "
            f"({len(wanted)} chosen); make it for signed-in customers instead."
        )
    from concierge.customers.models import Organization

    known = set(Organization.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    unknown = [str(pk) for pk in wanted if pk not in known]
    if unknown:
        raise ValidationFailed(
            f"Unknown organizations: {', '.join(unknown)}.",
            field_errors={"organization_ids": ["Unknown organization."]},
        )
    return wanted


def _next_version_number(article: Article, locale: str) -> int:
    latest = article.versions.filter(locale=locale).aggregate(latest=Max("number"))["latest"]
    return int(latest or 0) + 1


def _save_text(
    *,
    article: Article,
    locale: str,
    text: dict[str, str],
    actor: Any,
    restored_from: ArticleVersion | None = None,
) -> ArticleTranslation:
    """Writes one translation's text and, when the title or body changed, a new version."""
    translation = article.translations.filter(locale=locale).first()
    rendered = render_article_body(text["body"])
    new_slug = article_slug(text["title"])
    changed = (
        translation is None
        or translation.title != text["title"]
        or translation.body_source != text["body"]
    )
    if translation is None:
        translation = ArticleTranslation(article=article, locale=locale)
    elif translation.slug != new_slug:
        ArticleSlugHistory.objects.create(article=article, locale=locale, slug=translation.slug)
    translation.title = text["title"]
    translation.slug = new_slug
    translation.description = text["description"]
    translation.body_source = text["body"]
    translation.body_html = rendered.html
    translation.updated_by = actor if policy.is_staff(actor) else None
    translation.save()
    if changed or restored_from is not None:
        ArticleVersion.objects.create(
            article=article,
            locale=locale,
            number=_next_version_number(article, locale),
            title=text["title"],
            body_source=text["body"],
            author=translation.updated_by,
            restored_from=restored_from,
        )
    return translation


def _clean_locale(value: Any) -> str:
    locale = normalize_locale(str(value or ""))
    if not locale:
        raise ValidationFailed(
            "Choose a language code such as en, fr or pt-br.",
            field_errors={"locale": ["Unknown locale."]},
        )
    return locale


@transaction.atomic
def create_article(*, actor: Any, changes: dict[str, Any]) -> Article:
    """A new article with its first text (in ``locale``, default the help center's)."""
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    from concierge.knowledge.services import help_center_settings

    locale = _clean_locale(changes.get("locale") or help_center_settings().default_locale)
    if "section_id" not in changes:
        raise ValidationFailed("Choose a section.", field_errors={"section_id": ["Required."]})
    text = _clean_text(changes, None)
    article = Article(source_locale=locale, owner=actor)
    tag_names = _apply_article_fields(article, changes)
    organizations = _chosen_organizations(article, changes)
    article.save()
    if tag_names:
        article.tags.set(tags_named(tag_names))
    if organizations is not None:
        article.organizations.set(organizations)
    _save_text(article=article, locale=locale, text=text, actor=actor)
    _reindex([article.pk])
    return article


@transaction.atomic
def update_article(
    *, actor: Any, article: Article, changes: dict[str, Any], locale: str = ""
) -> Article:
    """Changes an article's fields and/or its text in ``locale`` (adding that translation)."""
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    article = Article.objects.select_for_update().get(pk=article.pk)
    locale = _clean_locale(locale or changes.get("locale") or article.source_locale)
    tag_names = _apply_article_fields(article, changes)
    organizations = _chosen_organizations(article, changes)
    if TEXT_FIELDS & set(changes):
        translation = article.translations.filter(locale=locale).first()
        _save_text(
            article=article, locale=locale, text=_clean_text(changes, translation), actor=actor
        )
    article.save()
    if "tags" in changes:
        article.tags.set(tags_named(tag_names))
    if organizations is not None:
        article.organizations.set(organizations)
    _reindex([article.pk])
    return article


@transaction.atomic
def delete_translation(*, actor: Any, article: Article, locale: str) -> None:
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    if locale == article.source_locale:
        raise ValidationFailed("The source language's text cannot be removed.")
    deleted, _ = article.translations.filter(locale=locale).delete()
    if not deleted:
        raise NotFound("No such translation.")
    _reindex([article.pk])


@transaction.atomic
def restore_version(*, actor: Any, version: ArticleVersion) -> ArticleVersion:
    """Makes an old version the current text again, as a new version (history is kept)."""
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    article = Article.objects.select_for_update().get(pk=version.article_id)
    current = article.translations.filter(locale=version.locale).first()
    text = {
        "title": version.title,
        "body": version.body_source,
        "description": current.description if current else "",
    }
    _save_text(
        article=article, locale=version.locale, text=text, actor=actor, restored_from=version
    )
    article.save(update_fields=["updated_at"])
    _reindex([article.pk])
    return article.versions.filter(locale=version.locale).order_by("-number").first()  # type: ignore[return-value]


@transaction.atomic
def delete_article(*, actor: Any, article: Article) -> None:
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    article_id = article.pk
    for attachment in article.attachments.all():
        attachment.file.delete(save=False)
    article.delete()
    _reindex([article_id])


def _clean_filename(name: str) -> str:
    name = name.replace("\\", "/").rpartition("/")[2]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return name[:200] or "file"


@transaction.atomic
def add_attachments(
    *, actor: Any, article: Article, attachments: Sequence[NewAttachment]
) -> list[ArticleAttachment]:
    """Stores files (the same size and type limits as ticket attachments)."""
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    validate_attachments(attachments)
    stored = []
    for attachment in attachments:
        filename = _clean_filename(attachment.filename)
        content_type = (
            attachment.content_type
            or mimetypes.guess_type(filename)[0]
            or "application/octet-stream"
        )[:127]
        record = ArticleAttachment(
            article=article,
            filename=filename,
            content_type=content_type,
            size=attachment.size,
            uploaded_by=actor,
        )
        record.file.save(filename, ContentFile(attachment.content), save=False)
        record.save()
        stored.append(record)
    return stored


@transaction.atomic
def delete_attachment(*, actor: Any, attachment: ArticleAttachment) -> None:
    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    attachment.file.delete(save=False)
    attachment.delete()


# A reply's first line when it only greets the customer, and its last lines when they
# only sign it off: what makes an answer a letter to one person rather than an article.
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening))\b[^.!?\n]{0,60}[,!:]?$", re.I
)
_CLOSING = re.compile(
    r"^(thanks|thank you|many thanks|cheers|best|best regards|kind regards|regards|"
    r"warm regards|all the best|sincerely)[,!.]?$",
    re.I,
)


def answer_as_article_text(body: str, signer_names: Sequence[str] = ()) -> str:
    """An agent's reply without its greeting and sign-off ("Hi Noah," ... "Thanks, Sam").

    Only whole lines that do nothing else are dropped: a greeting as the first
    line, and at the end a closing word with the agent's name under it (or the
    name alone, or the closing alone). The rest is kept word for word.
    """
    lines = body.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and _GREETING.match(lines[0].strip()):
        lines.pop(0)
    names = {name.strip().lower() for name in signer_names if name.strip()}

    def drop_trailing_blank() -> None:
        while lines and not lines[-1].strip():
            lines.pop()

    drop_trailing_blank()
    if lines and lines[-1].strip().rstrip(".").lower() in names:
        lines.pop()
        drop_trailing_blank()
    if lines and _CLOSING.match(lines[-1].strip()):
        lines.pop()
    drop_trailing_blank()
    while lines and not lines[0].strip():
        lines.pop(0)
    text = "\n".join(lines)
    return text if text.strip() else body


@transaction.atomic
def create_draft_from_entry(*, actor: Any, entry: Any, section: Section | None = None) -> Article:
    """A draft article from an agent's public answer on a ticket.

    Agents only until someone chooses otherwise: the text was written to one
    customer and may name them or their order, so publishing it to everyone
    is a decision made in the editor, not a default. The greeting and sign-off
    are dropped (``answer_as_article_text``).
    """
    from concierge.tickets.models import EntryKind

    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    if entry.kind != EntryKind.PUBLIC_REPLY or not entry.author_user_id:
        raise ValidationFailed("Only an agent's public reply can become an article.")
    section = section or Section.objects.order_by("category__position", "position", "pk").first()
    if section is None:
        raise ValidationFailed("Create a help center section first: an article lives in one.")
    article = create_article(
        actor=actor,
        changes={
            "section_id": section.pk,
            "status": ArticleStatus.DRAFT,
            "visibility": Visibility.INTERNAL,
            "title": entry.ticket.subject[:TITLE_MAX_CHARS],
            "body": answer_as_article_text(entry.body_source, _signer_names(entry.author_user)),
        },
    )
    article.created_from_ticket_id = entry.ticket_id
    article.save(update_fields=["created_from_ticket"])
    return article


def _signer_names(user: Any) -> list[str]:
    """How an agent may sign a reply: full name and first name."""
    name = " ".join(str(getattr(user, "name", "") or "").split())
    return [name, name.split(" ")[0]] if name else []


# --- reviews: "still right" -------------------------------------------------------------------

# The next review of an article marked as reviewed, unless its owner picks another date.
REVIEW_INTERVAL_DAYS = 180


@transaction.atomic
def mark_reviewed(*, actor: Any, article: Article) -> Article:
    """Records that the article was checked and is still right, and sets its next review
    date REVIEW_INTERVAL_DAYS on (what the "due for review" report reads)."""
    policy.require(policy.can_edit_articles(actor), "Only agents who write articles review them.")
    article = Article.objects.select_for_update().get(pk=article.pk)
    article.reviewed_at = timezone.now()
    article.reviewed_by = actor
    article.review_due_on = timezone.now().date() + timedelta(days=REVIEW_INTERVAL_DAYS)
    article.save(update_fields=["reviewed_at", "reviewed_by", "review_due_on", "updated_at"])
    return article


# --- following: articles and sections, by email -------------------------------------------------

FOLLOWS_PER_USER = 500
UNFOLLOW_SALT = "concierge.knowledge.unfollow"


@transaction.atomic
def follow(
    *, actor: Any, article: Article | None = None, section: Section | None = None
) -> HelpSubscription:
    """A signed-in reader follows an article they can read, or a section with one."""
    from concierge.knowledge import services

    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("Sign in to follow articles.")
    if article is not None:
        if not services.can_read_article(user=actor, article_id=article.pk):
            raise NotFound("No such article.")
        target: dict[str, Any] = {"article": article}
    elif section is not None:
        services.get_section(user=actor, section_id=section.pk)  # NotFound when not theirs
        target = {"section": section}
    else:
        raise ValidationFailed("Follow an article or a section.")
    existing = HelpSubscription.objects.filter(user=actor, **target).first()
    if existing is not None:
        return existing
    if HelpSubscription.objects.filter(user=actor).count() >= FOLLOWS_PER_USER:
        raise LimitExceeded(
            f"You follow {FOLLOWS_PER_USER} articles and sections, the limit: unfollow some first."
        )
    return HelpSubscription.objects.create(user=actor, **target)


def unfollow(*, actor: Any, article: Article | None = None, section: Section | None = None) -> int:
    """Stops following; how many subscriptions ended (0 when there was none)."""
    if not getattr(actor, "is_authenticated", False):
        return 0
    target = {"article": article} if article is not None else {"section": section}
    return int(HelpSubscription.objects.filter(user=actor, **target).delete()[0])


def unfollow_everything(*, user_id: int) -> int:
    """Ends every subscription of one reader (an email's "stop all"); how many ended."""
    return int(HelpSubscription.objects.filter(user_id=user_id).delete()[0])


def unfollow_token(subscription: HelpSubscription) -> str:
    """The signed key of an email's "stop following" link (it never expires: old emails work)."""
    return signing.dumps({"s": subscription.pk, "u": subscription.user_id}, salt=UNFOLLOW_SALT)


def subscription_for_token(token: str) -> HelpSubscription | None:
    """The subscription an unfollow link names, or None (a bad link, or already ended)."""
    try:
        data = signing.loads(token, salt=UNFOLLOW_SALT)
    except signing.BadSignature:
        return None
    return (
        HelpSubscription.objects.select_related("article", "section")
        .filter(pk=data.get("s"), user_id=data.get("u"))
        .first()
    )


def notify_followers(*, actor: Any, article: Article, new: bool) -> None:
    """Emails the article's followers that it changed, and with ``new`` (it was just
    published) the followers of its section; sent by a task after the save commits."""
    from concierge.knowledge.tasks import email_help_followers

    policy.require(policy.can_edit_articles(actor), "Only agents write articles.")
    transaction.on_commit(lambda: email_help_followers.enqueue(article.pk, new))


def email_followers(*, article_id: int, new: bool) -> int:
    """Sends the emails (the task); how many went. Each follower is checked again: one
    who can no longer read the article (it became agents-only) gets nothing."""
    from django.core.mail import send_mail

    from concierge.knowledge import services

    article = (
        Article.objects.select_related("section")
        .prefetch_related("translations")  # one read for every follower's language
        .filter(pk=article_id, status=ArticleStatus.PUBLISHED)
        .first()
    )
    if article is None:
        return 0
    subscriptions = HelpSubscription.objects.filter(article=article)
    if new:
        subscriptions = subscriptions | HelpSubscription.objects.filter(section=article.section)
    if not article.translations.all():
        return 0
    default_locale = services.help_center_settings().default_locale
    sent = 0
    emailed: set[int] = set()
    # The article's own followers first: one who also follows its section gets one email.
    ordered = subscriptions.select_related("user", "section", "user__customer").order_by(
        F("section_id").asc(nulls_first=True), "pk"
    )
    for subscription in ordered:
        user = subscription.user
        if not user.is_active or not user.email or user.pk in emailed:
            continue
        if not services.can_read_article(user=user, article_id=article.pk):
            continue
        # In the reader's language when the article has it (a customer's language),
        # else the help center's fallbacks.
        customer = policy.customer_of(user)
        locale = normalize_locale(customer.language) if customer else ""
        text = services.pick_translation(
            article, locale or default_locale, default_locale=default_locale
        )
        link = settings.SITE_URL + reverse("portal:help_article", args=[article.pk, text.slug])
        link += f"?lang={text.locale}"
        followed_section = subscription.section
        if followed_section is not None:
            section_name = followed_section.name_in(text.locale)
            subject = f"New in {section_name}: {text.title}"
            why = f"You follow the section {section_name}."
        else:
            subject = f"Updated: {text.title}"
            why = "You follow this article."
        stop = settings.SITE_URL + reverse(
            "portal:help_unfollow", args=[unfollow_token(subscription)]
        )
        body = (
            f"{text.title}\n\n{plain_body(text.body_html)[:600]}\n\nRead it: {link}\n\n"
            f"{why} Stop following (this, or everything): {stop}\n"
        )
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
        emailed.add(user.pk)
        sent += 1
    return sent


# --- flags: "this article needs an update" -----------------------------------------------------

FLAG_NOTE_MAX_CHARS = 2000
OPEN_FLAGS_PER_ARTICLE = 50  # a runaway script cannot bury an article's page in flags


@transaction.atomic
def flag_article(*, actor: Any, article: Article, note: str, ticket: Any = None) -> ArticleFlag:
    """Any staff member who can read the article flags it, light agents included:
    they answer with articles they may not edit, and are often first to notice."""
    policy.require(policy.is_staff(actor), "Only staff flag articles.")
    note = note.strip()
    if not note:
        raise ValidationFailed(
            "Say what needs changing.", field_errors={"note": ["What is wrong or missing?"]}
        )
    if len(note) > FLAG_NOTE_MAX_CHARS:
        raise LimitExceeded(f"The note is too long: the limit is {FLAG_NOTE_MAX_CHARS} characters.")
    if article.flags.filter(resolved_at__isnull=True).count() >= OPEN_FLAGS_PER_ARTICLE:
        raise LimitExceeded(
            f"This article has {OPEN_FLAGS_PER_ARTICLE} open flags, the limit: resolve some first."
        )
    flag = ArticleFlag.objects.create(article=article, note=note, flagged_by=actor, ticket=ticket)
    keeper = _keeper(article)
    if keeper is not None and keeper != actor.pk:
        from concierge.knowledge.tasks import email_article_flag

        transaction.on_commit(lambda: _tell_the_keeper(flag, keeper))
        # And by email: an owner who is not in the workspace today still hears of it.
        transaction.on_commit(lambda: email_article_flag.enqueue(flag.pk, keeper))
    return flag


def _keeper(article: Article) -> int | None:
    """Who keeps the article up to date: its owner, or else whoever last edited its
    source text (an article nobody was named for is still somebody's)."""
    if article.owner_id is not None:
        return int(article.owner_id)
    text = article.translations.filter(locale=article.source_locale).first()
    return int(text.updated_by_id) if text is not None and text.updated_by_id else None


def _source_title(article: Article) -> str:
    text = article.translations.filter(locale=article.source_locale).first()
    return text.title if text else f"article {article.pk}"


def _flagged(flag: ArticleFlag) -> str:
    """“Lee Light flagged “Refunds” for an update”: the notice's and the email's opening."""
    who = getattr(flag.flagged_by, "name", "") or "An agent"
    return f"{who} flagged “{_source_title(flag.article)}” for an update"


def _tell_the_keeper(flag: ArticleFlag, keeper: int) -> None:
    """A notice in the keeper's workspace (bell, list, live pop-up)."""
    from concierge.automation.actions import notify_in_app

    article = flag.article
    notify_in_app(
        agent_ids=[keeper],
        message=f"{_flagged(flag)}: {flag.note}"[:1000],
        link=reverse("workspace:knowledge_article", args=[article.pk]) + "#flags",
    )


def email_flag(*, flag_id: int, keeper_id: int) -> bool:
    """Emails the article's keeper about a flag (the task); whether it went.

    Read again when the task runs: a flag resolved meanwhile, or a keeper
    deactivated or no longer staff, gets nothing. The email carries the note
    and links into the workspace only (the keeper signs in to see more).
    """
    from django.core.mail import send_mail

    from concierge.accounts.models import User

    flag = (
        ArticleFlag.objects.select_related("article", "flagged_by")
        .filter(pk=flag_id, resolved_at__isnull=True)
        .first()
    )
    keeper = User.objects.filter(pk=keeper_id, is_active=True).first()
    if flag is None or keeper is None or not keeper.email or not policy.is_staff(keeper):
        return False
    article = flag.article
    link = settings.SITE_URL + reverse("workspace:knowledge_article", args=[article.pk])
    lines = [f"{_flagged(flag)}:", "", flag.note, ""]
    if flag.ticket_id:
        ticket_link = settings.SITE_URL + reverse("workspace:ticket", args=[flag.ticket_id])
        lines += [f"While answering ticket #{flag.ticket_id}: {ticket_link}", ""]
    lines += [f"Open the article and its flags: {link}#flags", ""]
    lines += ["You get this as the article's owner (or its last editor, when it has no owner)."]
    send_mail(
        f"Flagged for an update: {_source_title(article)}"[:200],
        "\n".join(lines) + "\n",
        settings.DEFAULT_FROM_EMAIL,
        [keeper.email],
    )
    return True


@transaction.atomic
def resolve_flag(*, actor: Any, flag: ArticleFlag) -> ArticleFlag:
    """Whoever writes articles marks a flag dealt with (resolving twice changes nothing)."""
    policy.require(policy.can_edit_articles(actor), "Only agents who write articles resolve flags.")
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.resolved_by = actor
        flag.save(update_fields=["resolved_at", "resolved_by"])
    return flag


# --- branding ---------------------------------------------------------------------------------


@transaction.atomic
def save_branding(
    *, actor: Any, changes: dict[str, Any], logo: NewAttachment | None = None
) -> HelpCenterSettings:
    policy.require(policy.can_manage_help_center(actor), "Only admins brand the help center.")
    branding, _ = HelpCenterSettings.objects.get_or_create(pk=1)
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        branding.name = _clean_name(changes["name"], "name")
    if "tagline" in changes:
        branding.tagline = " ".join(str(changes["tagline"] or "").split())[:200]
    for color_field in ("primary_color", "accent_color", "text_color", "background_color"):
        if color_field in changes:
            value = str(changes[color_field] or "").strip()
            if not HEX_COLOR.match(value):
                errors[color_field] = ["Use a colour like #2454d6."]
            else:
                setattr(branding, color_field, value.lower())
    if "default_locale" in changes:
        branding.default_locale = _clean_locale(changes["default_locale"])
    if "locales" in changes:
        raw = changes["locales"]
        names = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw or [])
        locales = [normalize_locale(str(name)) for name in names]
        if not all(locales):
            errors["locales"] = ["Use language codes such as en, fr, pt-br."]
        branding.locales = list(dict.fromkeys(locales))[:20]
    if errors:
        raise ValidationFailed("Some branding values are invalid.", field_errors=errors)
    if logo is not None:
        if logo.content_type not in LOGO_TYPES:
            raise ValidationFailed(
                "The logo must be a PNG, JPEG, GIF or WebP image.",
                field_errors={"logo": ["Unsupported image type."]},
            )
        if logo.size > LOGO_MAX_BYTES:
            raise LimitExceeded("The logo is over the 1 MB limit.")
        if branding.logo:
            branding.logo.delete(save=False)
        branding.logo.save(_clean_filename(logo.filename), ContentFile(logo.content), save=False)
    if changes.get("remove_logo") and branding.logo:
        branding.logo.delete(save=False)
    branding.save()
    return branding


# --- the help center's records of use ---------------------------------------------------------


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def _session(key: str, customer: Any = None, channel: str = HelpChannel.HELP_CENTER) -> HelpSession:
    session, _ = HelpSession.objects.get_or_create(key=key, defaults={"channel": channel})
    if customer is not None and session.customer_id is None:
        session.customer = customer
        session.save(update_fields=["customer"])
    return session


def _count_in_window(cache_key: str, limit: int, message: str) -> None:
    """Counts one more use in an hour's window; refuses past ``limit``."""
    cache.add(cache_key, 0, timeout=3600)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=3600)
        used = 1
    if used > limit:
        raise LimitExceeded(message)


@transaction.atomic
def record_event(
    *,
    session_key: str,
    kind: str,
    article_id: int | None = None,
    query: str = "",
    result_count: int | None = None,
    locale: str = "",
    customer: Any = None,
    client_address: str = "",
    now: datetime | None = None,
    channel: str = HelpChannel.HELP_CENTER,
) -> HelpEvent | None:
    """Records a view, search or suggestion shown / clicked; repeats in one session count once.

    ``channel`` is where the visit happens (the help center's pages or the chat
    widget); a session keeps the channel of its first event."""
    if kind not in EventKind.values:
        raise ValidationFailed("Unknown event.", field_errors={"kind": ["Unknown value."]})
    if client_address:
        # A visitor without cookies starts a new session on every request: bound the address too.
        _count_in_window(
            f"kb:events:address:{client_address}",
            EVENTS_PER_HOUR_PER_ADDRESS,
            f"Too many help center events: at most {EVENTS_PER_HOUR_PER_ADDRESS} an hour.",
        )
    _count_in_window(
        f"kb:events:{session_key}",
        EVENTS_PER_HOUR_PER_SESSION,
        f"Too many help center events: at most {EVENTS_PER_HOUR_PER_SESSION} an hour.",
    )
    session = _session(session_key, customer, channel)
    backdated = now is not None  # tests and imports replay events at their own time
    now = now or timezone.now()
    article = None
    if article_id is not None:
        article = Article.objects.filter(pk=article_id).first()
        if article is None:
            return None
    once_per_article = (EventKind.VIEW, EventKind.SUGGESTION_CLICK, EventKind.SUGGESTION_SHOWN)
    if kind in once_per_article and article is not None:
        if session.events.filter(kind=kind, article=article).exists():
            return None
    query = " ".join(query.split())[:SEARCH_QUERY_MAX_CHARS].lower()
    if kind == EventKind.SEARCH and not query:
        return None
    event = HelpEvent(
        session=session,
        kind=kind,
        article=article,
        query=query,
        result_count=result_count,
        locale=locale[:10],
    )
    event.save()
    if backdated:
        HelpEvent.objects.filter(pk=event.pk).update(created_at=now)
    if session.first_content_at is None and kind != EventKind.SUGGESTION_SHOWN:
        HelpSession.objects.filter(pk=session.pk).update(first_content_at=now)
    if kind == EventKind.VIEW and article is not None:
        Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)
    return event


@transaction.atomic
def vote(
    *,
    session_key: str,
    article: Article,
    is_helpful: bool,
    comment: str = "",
    locale: str = "",
    client_address: str = "",
    customer: Any = None,
) -> ArticleVote:
    """One vote per article per session: voting again changes the vote, it does not add one."""
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_CHARS:
        raise LimitExceeded(
            f"The comment is {len(comment)} characters; the limit is {COMMENT_MAX_CHARS}."
        )
    _count_in_window(
        f"kb:votes:{client_address or session_key}",
        VOTES_PER_HOUR_PER_ADDRESS,
        f"Too many votes: at most {VOTES_PER_HOUR_PER_ADDRESS} an hour. Please try again later.",
    )
    session = _session(session_key, customer)
    try:
        with transaction.atomic():
            record, created = ArticleVote.objects.get_or_create(
                article=article,
                session=session,
                defaults={"is_helpful": is_helpful, "comment": comment, "locale": locale[:10]},
            )
    except IntegrityError:  # a concurrent first vote of the same session won
        record, created = ArticleVote.objects.get(article=article, session=session), False
    if not created:
        record.is_helpful = is_helpful
        if comment:
            record.comment = comment
        record.save(update_fields=["is_helpful", "comment", "updated_at"])
    counts = ArticleVote.objects.filter(article=article).aggregate(
        helpful=Count("pk", filter=Q(is_helpful=True)),
        unhelpful=Count("pk", filter=Q(is_helpful=False)),
    )
    Article.objects.filter(pk=article.pk).update(
        helpful_count=counts["helpful"], unhelpful_count=counts["unhelpful"]
    )
    return record


@transaction.atomic
def note_request_opened(*, session_key: str, ticket: Any) -> None:
    """Links the first request a help session opened to it (the deflection that did not happen)."""
    if not session_key:
        return
    session = HelpSession.objects.select_for_update().filter(key=session_key).first()
    if session is None:
        return
    # Keep the first request opened after the visitor read help content: that is the
    # one that decides whether the visit was self-service.
    linked_after_reading = session.ticket_id is not None and (
        session.first_content_at is None
        or session.ticket_created_at is None
        or session.ticket_created_at >= session.first_content_at
    )
    if linked_after_reading:
        return
    session.ticket_id = ticket.pk
    session.ticket_created_at = ticket.created_at
    if session.customer_id is None:
        session.customer_id = ticket.requester_id
    session.save(update_fields=["ticket", "ticket_created_at", "customer"])


def logo_limit_text() -> str:
    return f"{LOGO_MAX_BYTES // 1024} KB"


def attachment_limit_text() -> str:
    return f"{settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB"
