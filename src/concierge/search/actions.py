"""Writes to the search index: schedule after commit, index now, rebuild.

The index is derived data: every write here re-reads the objects from their
registered source (registry.py), so running any of it twice is harmless and a
rebuild restores the index from scratch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from concierge.core.events import on_commit
from concierge.search import registry, vectors
from concierge.search.documents import IndexDocument
from concierge.search.encoders import MAX_LENGTH, get_encoder
from concierge.search.models import IndexState, SearchDocument, SearchTerm
from concierge.search.text import passages, words

logger = logging.getLogger(__name__)

# Which encoder embeds each kind ("" = lexical only). Articles are few and
# worth the transformer; tickets are many and get the static encoder (see
# encoders.py and bench/RESULTS.md for what each costs).
DEFAULT_ENCODERS = {"article": "default", "ticket": "static", "customer": ""}
# Passages (sentences / lines) embedded per document besides its whole text and title.
PASSAGES_PER_KIND = {"article": 8}
MAX_BODY_CHARACTERS = 60_000
MAX_TERM_LENGTH = 32
MAX_TERM_TEXT = 2_000  # characters of a body that feed the typo vocabulary
BATCH_SIZE = 500


def encoder_for(kind: str) -> str:
    configured: dict[str, str] = getattr(settings, "SEARCH_ENCODERS", {})
    return configured.get(kind, DEFAULT_ENCODERS.get(kind, ""))


def schedule_index(*, kind: str, object_ids: list[int]) -> None:
    """After the current transaction commits, (re)indexes these objects in the background."""
    ids = sorted({int(object_id) for object_id in object_ids})
    if not ids:
        return
    from concierge.search.tasks import index_objects

    def enqueue() -> None:
        for start in range(0, len(ids), BATCH_SIZE):
            index_objects.enqueue(kind, ids[start : start + BATCH_SIZE])

    on_commit(enqueue)


@dataclass
class IndexReport:
    indexed: int = 0
    removed: int = 0


def index_now(*, kind: str, object_ids: list[int]) -> IndexReport:
    """Loads the objects from their source and writes their index rows, in this process."""
    source = registry.get_source(kind)
    if source is None:
        logger.warning("No search source registered for %r; nothing indexed", kind)
        return IndexReport()
    loaded = source.loader(list(object_ids))
    documents = [document for document in loaded.values() if document is not None]
    gone = [object_id for object_id in object_ids if loaded.get(object_id) is None]
    return write_documents(kind=kind, documents=documents, removed_ids=gone)


def _document_vectors(documents: list[IndexDocument], encoder_name: str) -> list[np.ndarray]:
    """Vectors of each document: whole text, title, then passages (articles only)."""
    encoder = get_encoder(encoder_name)
    whole_texts = [f"{document.title}\n{document.body}" for document in documents]
    if encoder_name == "static":
        # One vector per document: a million tickets must embed in minutes.
        whole = encoder.encode(whole_texts)
        return [whole[index : index + 1] for index in range(len(documents))]
    texts: list[str] = []
    layout: list[tuple[int, int]] = []
    for document, whole_text in zip(documents, whole_texts, strict=True):
        limit = PASSAGES_PER_KIND.get(document.kind, 0)
        pieces = [whole_text[: MAX_LENGTH * 8], document.title or whole_text[:200]]
        pieces += passages(document.body, limit=limit) if limit else []
        layout.append((len(texts), len(pieces)))
        texts.extend(pieces)
    encoded = encoder.encode(texts)
    return [encoded[start : start + count] for start, count in layout]


def _bump_revision(name: str = "documents") -> int:
    state, _ = IndexState.objects.get_or_create(name=name)
    IndexState.objects.filter(pk=state.pk).update(version=F("version") + 1)
    return int(IndexState.objects.values_list("version", flat=True).get(pk=state.pk))


_known_terms: set[str] = set()


def _record_terms(documents: list[IndexDocument]) -> None:
    """Adds the public words of the documents to the vocabulary used for typo tolerance."""
    # One regex pass over all the text of the batch (much faster than one per document).
    text = " ".join(
        f"{document.title} {document.body[:MAX_TERM_TEXT]} {' '.join(document.tags)}"
        for document in documents
    )
    new_terms = {
        word
        for word in set(words(text))
        if 3 <= len(word) <= MAX_TERM_LENGTH and word.isalpha() and word not in _known_terms
    }
    if not new_terms:
        return
    SearchTerm.objects.bulk_create(
        [SearchTerm(term=term) for term in sorted(new_terms)],
        ignore_conflicts=True,
        batch_size=1000,
    )
    if len(_known_terms) < 500_000:  # a bounded memo: it only saves repeated inserts
        _known_terms.update(new_terms)


_UPSERT_COLUMNS = (
    "kind",
    "object_id",
    "title",
    "body",
    "staff_body",
    "tags",
    "locale",
    "audience",
    "customer_id",
    "organization_id",
    "extra",
    "encoder",
    "vector_count",
    "vectors",
    "revision",
    "updated_at",
)


def _upsert(rows: list[tuple[Any, ...]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE in plain SQL (same text on SQLite and PostgreSQL).

    Django's bulk_create spent most of a large rebuild preparing values one
    field at a time; rows here are already plain values.
    """
    table = SearchDocument._meta.db_table
    columns = ", ".join(_UPSERT_COLUMNS)
    marks = ", ".join(["%s"] * len(_UPSERT_COLUMNS))
    updates = ", ".join(
        f"{column} = excluded.{column}"
        for column in _UPSERT_COLUMNS
        if column not in ("kind", "object_id")
    )
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608 - constants only
        f"ON CONFLICT (kind, object_id) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH_SIZE):
            cursor.executemany(sql, rows[start : start + BATCH_SIZE])


def write_documents(
    *, kind: str, documents: list[IndexDocument], removed_ids: Iterable[int] = ()
) -> IndexReport:
    """Upserts index rows for ``documents`` (with vectors) and deletes ``removed_ids``."""
    report = IndexReport()
    encoder_name = encoder_for(kind)
    for document in documents:
        if document.kind != kind:
            raise ValueError(f"Document of kind {document.kind!r} given for kind {kind!r}")
    document_vectors = (
        _document_vectors(documents, encoder_name) if encoder_name and documents else []
    )
    with transaction.atomic():
        revision = _bump_revision()
        removed = list(removed_ids)
        if removed:
            report.removed, _ = SearchDocument.objects.filter(
                kind=kind, object_id__in=removed
            ).delete()
            if report.removed:
                _bump_revision("deletions")
        now = timezone.now()
        rows = []
        for index, document in enumerate(documents):
            block = document_vectors[index] if document_vectors else None
            rows.append(
                (
                    kind,
                    document.object_id,
                    document.title[:500],
                    document.body[:MAX_BODY_CHARACTERS],
                    document.staff_body[:MAX_BODY_CHARACTERS],
                    " ".join(document.tags),
                    document.locale,
                    document.audience,
                    document.customer_id,
                    document.organization_id,
                    json.dumps(document.extra, default=str),
                    encoder_name if block is not None else "",
                    0 if block is None else len(block),
                    None if block is None else vectors.pack(block),
                    revision,
                    now,
                )
            )
        if rows:
            _upsert(rows)
            _record_terms(documents)
        report.indexed = len(rows)
    return report


def rebuild(*, kinds: Iterable[str] | None = None, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Re-indexes every object of ``kinds`` (default: all registered) in batches.

    Rows of objects that no longer exist are removed at the end.
    """
    counts: dict[str, int] = {}
    for kind in kinds or registry.registered_kinds():
        source = registry.get_source(kind)
        if source is None:
            continue
        seen: set[int] = set()
        batch: list[int] = []
        for object_id in source.all_ids():
            batch.append(int(object_id))
            if len(batch) >= batch_size:
                index_now(kind=kind, object_ids=batch)
                seen.update(batch)
                batch = []
        if batch:
            index_now(kind=kind, object_ids=batch)
            seen.update(batch)
        stale = set(SearchDocument.objects.filter(kind=kind).values_list("object_id", flat=True))
        stale -= seen
        if stale:
            write_documents(kind=kind, documents=[], removed_ids=sorted(stale))
        counts[kind] = SearchDocument.objects.filter(kind=kind).count()
    return counts
