"""The "article" source of the search index: one document per article.

An article is indexed in its source language (title, description and body
as plain text). Drafts, archived and deleted articles leave the index;
agents-only articles stay, with the "staff" audience, so agents find them
from the reply composer while customers never do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from concierge.core import policy
from concierge.knowledge.content import plain_body
from concierge.knowledge.models import Article, ArticleStatus, Visibility
from concierge.search.documents import IndexDocument


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
        body = plain_body(text.body_html)
        documents[article_id] = IndexDocument(
            kind="article",
            object_id=article.pk,
            title=text.title,
            body=f"{text.description}\n{body}" if text.description else body,
            locale=text.locale,
            audience="public" if article.visibility == Visibility.PUBLIC else "staff",
            tags=tuple(tag.name for tag in article.tags.all()),
            extra={
                "section_id": article.section_id,
                "category_id": article.section.category_id,
                "status": article.status,
                "visibility": article.visibility,
                "slug": text.slug,
            },
        )
    return documents


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
