"""The "article" source of the search index: one document per article, every translation in it.

An article's document holds its source-language text (title, description
and body as plain text) and, after it, each other published translation:
their words in the body (lexical matches in any language) and their title
and text as extra passages (vectors), so a visitor's question in French
finds the article through its French translation. The help center then
shows the visitor's translation, or its fallback (services.localize).
Drafts, archived and deleted articles leave the index; agents-only articles
stay, with the "staff" audience, so agents find them from the reply
composer while customers never do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from concierge.core import policy
from concierge.knowledge.content import plain_body
from concierge.knowledge.models import Article, ArticleStatus, ArticleTranslation, Visibility
from concierge.search.documents import IndexDocument

# Translations embedded per article besides its source text (two vectors each).
MAX_TRANSLATIONS = 12
# Who may ever find an article, by its visibility (core.policy re-checks each hit).
ARTICLE_AUDIENCES: dict[str, str] = {
    Visibility.PUBLIC: "public",
    Visibility.SIGNED_IN: "signed_in",
    Visibility.ORGANIZATIONS: "members",
    Visibility.INTERNAL: "staff",
}


def load_articles(article_ids: list[int]) -> dict[int, IndexDocument | None]:
    """The current document of each id; None for those that must leave the index."""
    found = {
        article.pk: article
        for article in Article.objects.filter(pk__in=article_ids)
        .select_related("section")
        .prefetch_related("translations", "tags")
    }
    documents: dict[int, IndexDocument | None] = {}
    for article_id in article_ids:
        article = found.get(article_id)
        if article is None or article.status != ArticleStatus.PUBLISHED:
            documents[article_id] = None
            continue
        translations = {t.locale: t for t in article.translations.all()}
        text = translations.get(article.source_locale) or next(iter(translations.values()), None)
        if text is None:
            documents[article_id] = None
            continue
        others = [t for locale, t in sorted(translations.items()) if t is not text]
        others = others[:MAX_TRANSLATIONS]
        bodies = {t.locale: _plain_text(t) for t in [text, *others]}
        body = "\n\n".join(
            [bodies[text.locale], *(f"{t.title}\n{bodies[t.locale]}" for t in others)]
        )
        documents[article_id] = IndexDocument(
            kind="article",
            object_id=article.pk,
            title=text.title,
            body=body,
            passages=tuple(
                piece for t in others for piece in (t.title, f"{t.title}\n{bodies[t.locale]}")
            ),
            locale=text.locale,
            audience=ARTICLE_AUDIENCES.get(article.visibility, "staff"),
            tags=tuple(tag.name for tag in article.tags.all()),
            extra={
                "section_id": article.section_id,
                "category_id": article.section.category_id,
                "status": article.status,
                "visibility": article.visibility,
                "slug": text.slug,
                "locales": sorted(translations),
            },
        )
    return documents


def _plain_text(translation: ArticleTranslation) -> str:
    body = plain_body(translation.body_html)
    return f"{translation.description}\n{body}" if translation.description else body


def visible_article_ids(user: Any, article_ids: list[int]) -> set[int]:
    """Of these ids, the published articles ``user`` may read now (the index may lag)."""
    return set(
        Article.objects.filter(
            policy.visible_articles_filter(user), status=ArticleStatus.PUBLISHED, pk__in=article_ids
        ).values_list("pk", flat=True)
    )


def all_article_ids() -> Iterable[int]:
    return Article.objects.filter(status=ArticleStatus.PUBLISHED).values_list("pk", flat=True)


def register() -> None:
    from concierge.search.registry import register_source

    register_source("article", load_articles, all_article_ids, visible_article_ids)
