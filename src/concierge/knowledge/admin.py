"""Django admin for the knowledge base (admins only): raw records, for support and repairs.

Authoring happens in the workspace (versions, sanitizing and indexing run there);
here the text fields are read-only so no edit can bypass them.
"""

from __future__ import annotations

from django.contrib import admin

from concierge.knowledge.models import (
    Article,
    ArticleAttachment,
    ArticleTranslation,
    ArticleVersion,
    ArticleVote,
    Category,
    HelpCenterSettings,
    HelpEvent,
    HelpSession,
    Section,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position")


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "position")


class TranslationInline(admin.StackedInline):
    model = ArticleTranslation
    extra = 0
    readonly_fields = ("locale", "title", "slug", "body_source", "body_html", "updated_by")


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("pk", "section", "status", "visibility", "owner", "review_due_on", "view_count")
    list_filter = ("status", "visibility")
    readonly_fields = ("view_count", "helpful_count", "unhelpful_count", "published_at")
    inlines = [TranslationInline]


@admin.register(ArticleVersion)
class ArticleVersionAdmin(admin.ModelAdmin):
    list_display = ("article", "locale", "number", "title", "author", "created_at")
    readonly_fields = ("article", "locale", "number", "title", "body_source", "author")


admin.site.register(ArticleAttachment)
admin.site.register(HelpCenterSettings)
admin.site.register(HelpSession)
admin.site.register(HelpEvent)
admin.site.register(ArticleVote)
