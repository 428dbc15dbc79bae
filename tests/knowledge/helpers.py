"""Building help center content for tests through the real actions."""

from __future__ import annotations

from typing import Any

from concierge.knowledge import actions
from concierge.knowledge.models import Article, Category, Section


def make_structure(admin: Any, *, name: str = "Billing") -> tuple[Category, Section]:
    category = actions.save_category(actor=admin, changes={"name": name})
    section = actions.save_section(
        actor=admin, changes={"name": f"{name} basics", "category_id": category.pk}
    )
    return category, section


def make_article(
    author: Any,
    section: Section,
    *,
    title: str = "Reset your password",
    body: str = "## Steps\n\nOpen **Settings**, then choose *Reset*.",
    status: str = "published",
    visibility: str = "public",
    **changes: Any,
) -> Article:
    return actions.create_article(
        actor=author,
        changes={
            "section_id": section.pk,
            "title": title,
            "body": body,
            "status": status,
            "visibility": visibility,
            **changes,
        },
    )


def article_url(article: Article, slug: str | None = None) -> str:
    """The article's help center address (its source text's slug unless ``slug``)."""
    translation = article.translations.get(locale=article.source_locale)
    return f"/portal/help/articles/{article.pk}-{slug or translation.slug}/"


def reset_search_caches() -> None:
    """Forgets the search app's in-process vectors (rolled-back tests reuse revision numbers)."""
    try:
        from concierge.search import vectors
    except ImportError:  # the search app is not built: nothing cached
        return
    vectors.reset_caches()
