"""The search index: one row per indexed object, plus its vocabulary.

Lexical search does not use Django fields: on SQLite an FTS5 table
(``search_fts``, external content over this table, kept in sync by triggers)
and on PostgreSQL a generated ``tsvector`` column with a GIN index, both
created by migration 0002 for their vendor only.

Vectors live in the row as raw float16 bytes (``vectors``: one or more
vectors per document — the whole text, the title, and passages), searched
exactly in numpy from an in-process matrix cache. pgvector would be the
choice on PostgreSQL, but its package is not installable on this machine
(Debian bookworm ships no postgresql-15-pgvector); see search/ranking.py.
"""

from __future__ import annotations

from django.db import models


class SearchDocument(models.Model):
    kind = models.CharField(max_length=16)
    object_id = models.BigIntegerField()
    title = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    # Words only staff may match on (internal notes): a separate FTS column /
    # tsvector weight that customer and anonymous searches never query.
    staff_body = models.TextField(blank=True)
    tags = models.TextField(blank=True, help_text="Space-separated tags, searchable.")
    locale = models.CharField(max_length=16, blank=True)
    audience = models.CharField(max_length=10, default="staff")
    customer_id = models.BigIntegerField(null=True, blank=True)
    organization_id = models.BigIntegerField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    encoder = models.CharField(max_length=32, blank=True)
    vector_count = models.PositiveSmallIntegerField(default=0)
    vectors = models.BinaryField(null=True, blank=True, help_text="float16 (count x dim).")
    # Index revision of the last change: in-process vector caches load only
    # the rows whose revision is newer than what they hold.
    revision = models.BigIntegerField(default=0, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="search_document_unique")
        ]
        indexes = [
            models.Index(fields=["kind", "audience"], name="search_doc_kind_audience"),
            models.Index(fields=["customer_id"], name="search_doc_customer"),
            models.Index(fields=["organization_id"], name="search_doc_organization"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id}"


class SearchTerm(models.Model):
    """Every word seen in public-facing text (title, body, tags), for typo tolerance.

    Terms are added while indexing and never removed: a stale term only
    expands a query to a word that then matches nothing visible.
    """

    term = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.term


class IndexState(models.Model):
    """A counter bumped on every index change: in-process caches reload when it moves."""

    name = models.CharField(max_length=32, unique=True)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"
