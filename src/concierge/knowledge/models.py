"""The knowledge base: categories, sections, articles in several languages, and their use.

Structure follows what teams know from Zendesk Guide and Help Scout Docs:
a category holds sections, a section holds articles. An article's text
lives in one ``ArticleTranslation`` per locale (the article's source locale
included), and every save of a translation's text adds an ``ArticleVersion``
so authors can compare and restore.

The help center's use is recorded too: ``HelpSession`` is one visitor's
visit (a cookie-backed session), ``HelpEvent`` what they did (article views,
searches, suggestion clicks), ``ArticleVote`` their "Was this helpful?"
answers. A session that viewed help content and opened no request within
24 hours counts as self-service.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from concierge.core.models import Tag, TimestampedModel
from concierge.core.sealed import SealedCharField

DEFAULT_LOCALE = "en"


class HelpCenterSettings(models.Model):
    """The help center's branding and languages; one row (``pk=1``)."""

    name = models.CharField(max_length=100, default="Help Center")
    tagline = models.CharField(max_length=200, blank=True, default="How can we help?")
    logo = models.ImageField(upload_to="help-center/", blank=True)
    # Colours are validated as #rrggbb before they are stored; the theme
    # stylesheet (a view) prints them as CSS custom properties.
    primary_color = models.CharField(max_length=7, default="#2454d6")
    accent_color = models.CharField(max_length=7, default="#0f7b6c")
    text_color = models.CharField(max_length=7, default="#1d2330")
    background_color = models.CharField(max_length=7, default="#f7f8fb")
    default_locale = models.CharField(max_length=10, default=DEFAULT_LOCALE)
    locales = models.JSONField(
        default=list, blank=True, help_text="Locales offered in the language picker."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "help center settings"
        verbose_name_plural = "help center settings"

    def __str__(self) -> str:
        return self.name

    @property
    def logo_filename(self) -> str:
        return self.logo.name.rpartition("/")[2] if self.logo else ""

    @property
    def offered_locales(self) -> list[str]:
        offered = [self.default_locale, *self.locales]
        return list(dict.fromkeys(locale for locale in offered if locale))


class Category(TimestampedModel):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Translated names: {"fr": "Facturation"}; the name above is the default locale's.
    name_translations = models.JSONField(default=dict, blank=True)
    # Where an import brought it from ("zendesk:360001234", "helpscout:5e8f..."):
    # running the import again updates it, and the old address redirects here.
    imported_from = models.CharField(max_length=100, blank=True, db_index=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def name_in(self, locale: str) -> str:
        return str(self.name_translations.get(locale) or self.name)


class Section(TimestampedModel):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="sections")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    name_translations = models.JSONField(default=dict, blank=True)
    # Where an import brought it from ("zendesk:360001234", "helpscout:5e8f..."):
    # running the import again updates it, and the old address redirects here.
    imported_from = models.CharField(max_length=100, blank=True, db_index=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return f"{self.category.name} / {self.name}"

    def name_in(self, locale: str) -> str:
        return str(self.name_translations.get(locale) or self.name)


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class Visibility(models.TextChoices):
    PUBLIC = "public", "Everyone"
    # Customers who signed in to the portal (Zendesk Guide's "signed-in users"):
    # an account's how-tos that visitors and search engines should not read.
    SIGNED_IN = "signed_in", "Signed-in customers"
    # Customers of the organizations named on the article (Zendesk Guide's user
    # segments by organization): a B2B team's pages for one client's setup,
    # contract or integration. Visitors are asked to sign in; customers of any
    # other organization are told there is no such page.
    ORGANIZATIONS = "organizations", "Chosen organizations"
    INTERNAL = "internal", "Agents only"


class Article(TimestampedModel):
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="articles")
    status = models.CharField(
        max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    # Who reads an article of visibility ORGANIZATIONS (empty for the others:
    # changing the visibility clears it, so a leftover list never widens anything).
    organizations = models.ManyToManyField(
        "customers.Organization", blank=True, related_name="articles"
    )
    source_locale = models.CharField(max_length=10, default=DEFAULT_LOCALE)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_articles",
    )
    review_due_on = models.DateField(null=True, blank=True)
    # The last time someone who writes articles checked it is still right (and set
    # the next review date): "Mark as reviewed" in the editor.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="articles")
    position = models.PositiveIntegerField(default=0)
    is_promoted = models.BooleanField(default=False, help_text="Listed first on the home page.")
    published_at = models.DateTimeField(null=True, blank=True)
    # Counters kept with the events and votes that change them, for cheap listings.
    view_count = models.PositiveIntegerField(default=0)
    helpful_count = models.PositiveIntegerField(default=0)
    unhelpful_count = models.PositiveIntegerField(default=0)
    created_from_ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where an import brought it from ("zendesk:360001234", "helpscout:5e8f..."):
    # running the import again updates it, and the old address redirects here.
    imported_from = models.CharField(max_length=100, blank=True, db_index=True)

    class Meta:
        ordering = ["position", "-updated_at", "-id"]
        indexes = [
            models.Index(fields=["status", "visibility", "section"], name="article_listing"),
            models.Index(fields=["status", "-view_count"], name="article_popular"),
        ]

    def __str__(self) -> str:
        return f"Article {self.pk}"

    @property
    def is_public(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED and self.visibility == Visibility.PUBLIC


class ArticleTranslation(models.Model):
    """An article's text in one locale; the source locale's row is the original."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="translations")
    locale = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220)
    description = models.CharField(
        max_length=300, blank=True, help_text="Shown in search engines and listings."
    )
    body_source = models.TextField(help_text="Markdown.")
    body_html = models.TextField(help_text="Sanitized HTML with heading anchors.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["locale"]
        constraints = [
            models.UniqueConstraint(fields=["article", "locale"], name="one_translation_per_locale")
        ]

    def __str__(self) -> str:
        return f"{self.title} [{self.locale}]"


class ArticleSlugHistory(models.Model):
    """A slug an article had before: old links redirect to the current one."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="old_slugs")
    locale = models.CharField(max_length=10)
    slug = models.SlugField(max_length=220)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class ArticleVersion(models.Model):
    """The text of one translation as one save left it."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    locale = models.CharField(max_length=10)
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body_source = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    restored_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "locale", "number"], name="one_version_number_per_translation"
            )
        ]

    def __str__(self) -> str:
        return f"Article {self.article_id} [{self.locale}] v{self.number}"


def article_file_path(instance: ArticleAttachment, filename: str) -> str:
    # The random folder keeps names unguessable and avoids clashes.
    return f"knowledge/{instance.article_id}/{secrets.token_hex(8)}/{filename}"


class ArticleAttachment(models.Model):
    """A file or image of an article; images are linked from the markdown by their URL."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=article_file_path, max_length=500)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type in INLINE_IMAGE_TYPES


# Raster images a browser shows without running anything; served inline.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class HelpChannel(models.TextChoices):
    """Where a visit read help content: the help center's pages or the chat widget's
    suggestions (before the visitor asked for a person)."""

    HELP_CENTER = "help_center", "Help center"
    CHAT = "chat", "Chat widget"


class HelpSession(models.Model):
    """One visitor's visit to the help center, from their first event on."""

    key = models.CharField(max_length=64, unique=True)
    channel = models.CharField(
        max_length=20, choices=HelpChannel.choices, default=HelpChannel.HELP_CENTER
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the visitor first read an article or searched: the start of the 24 h window.
    first_content_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket_created_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key[:8]


class EventKind(models.TextChoices):
    VIEW = "view", "Article view"
    SEARCH = "search", "Search"
    SUGGESTION_CLICK = "suggestion_click", "Suggestion click"
    # An article offered while the visitor typed a request (chat widget). It is
    # not help content read, so it does not start the session's 24 h window.
    SUGGESTION_SHOWN = "suggestion_shown", "Suggestion shown"


class HelpEvent(models.Model):
    session = models.ForeignKey(HelpSession, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    query = models.CharField(max_length=200, blank=True)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    locale = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "created_at"], name="help_event_kind_time"),
            models.Index(fields=["article", "kind"], name="help_event_article"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.article_id or self.query}"


class ArticleVote(models.Model):
    """One "Was this helpful?" answer: one per article per visitor session."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    session = models.ForeignKey(HelpSession, on_delete=models.CASCADE, related_name="votes")
    is_helpful = models.BooleanField()
    comment = models.TextField(blank=True)
    locale = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "session"], name="one_vote_per_session")
        ]

    def __str__(self) -> str:
        return f"{'+' if self.is_helpful else '-'} article {self.article_id}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def import_export_path(instance: HelpCenterImport, filename: str) -> str:
    return f"knowledge-imports/{secrets.token_hex(8)}/{filename}"


class HelpCenterImport(models.Model):
    """One import from Zendesk Guide or Help Scout Docs started in the workspace.

    It runs as a background task (a large help center takes minutes). Its
    source is an uploaded export (``export``: JSON files saved from the API,
    zipped) or the API itself; the API token is kept here only until the run
    ends and is then erased. ``report`` holds the lines the importer reports.
    """

    source = models.CharField(max_length=20)  # "zendesk" or "helpscout"
    dry_run = models.BooleanField(default=False)
    export = models.FileField(upload_to=import_export_path, max_length=500, blank=True)
    export_name = models.CharField(max_length=255, blank=True)
    # Live imports: the Zendesk subdomain (the address is built from it, never
    # typed in full, so the server only calls Zendesk) and the agent's email.
    subdomain = models.CharField(max_length=63, blank=True)
    api_email = models.CharField(max_length=254, blank=True)
    api_secret = SealedCharField(max_length=255, blank=True)  # encrypted (core.sealed)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    report = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} import {self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return not self.export_name

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class ArticleFlag(models.Model):
    """An agent's note that an article needs an update ("the refund now takes 10 days"),
    raised while answering (Zendesk's knowledge capture "flag article"). Open until
    someone who writes articles resolves it; the article's owner finds it on the
    article, in the list's "Flagged" filter and in the help center reports."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="flags")
    note = models.TextField()
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The request the agent was answering when they noticed, if any.
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["article", "resolved_at"], name="article_flag_open")]

    def __str__(self) -> str:
        return f"Flag on article {self.article_id}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class HelpSubscription(models.Model):
    """A signed-in reader following an article (told when it changes) or a section
    (told when a new article appears in it), as Zendesk Guide's "Follow"."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="help_subscriptions"
    )
    article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    section = models.ForeignKey(
        Section, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(article__isnull=False, section__isnull=True)
                | models.Q(article__isnull=True, section__isnull=False),
                name="subscription_follows_one_thing",
            ),
            models.UniqueConstraint(
                fields=["user", "article"],
                condition=models.Q(article__isnull=False),
                name="one_subscription_per_article",
            ),
            models.UniqueConstraint(
                fields=["user", "section"],
                condition=models.Q(section__isnull=False),
                name="one_subscription_per_section",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.article_id or self.section_id}"
