"""Writes to the search index: schedule after commit, index now, rebuild.

The index is derived data: every write here re-reads the objects from their
registered source (registry.py), so running any of it twice is harmless and a
rebuild restores the index from scratch.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.db import connection, connections, transaction
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
        pieces += [
            contextual_passage(document.title, piece)
            for piece in (passages(document.body, limit=limit) if limit else [])
        ]
        pieces += list(document.passages)  # e.g. an article's translations (documents.py)
        layout.append((len(texts), len(pieces)))
        texts.extend(pieces)
    encoded = encoder.encode(texts)
    return [encoded[start : start + count] for start, count in layout]


def contextual_passage(title: str, passage: str) -> str:
    """The text embedded for one passage of a document: its title, then the passage.

    A passage alone is often ambiguous ("Press it and follow the
    instructions", "Can I still use it?"): which article it belongs to is in
    the title. Prefixing the title (as contextual chunk embeddings do) raised
    the MRR@10 of the best passage alone by 0.05-0.09 on both help centers of
    bench/eval_search.py's validation split (MiniLM and e5 alike), and the
    fused semantic ranking by 0.006-0.018, at no cost in vectors stored.
    """
    return f"{title}: {passage}" if title else passage


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


# Rows per INSERT statement: 16 columns x 1,000 rows stays under SQLite's
# 32,766 bound parameters.
UPSERT_ROWS_PER_STATEMENT = 1_000


def _upsert(rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERT ... ON CONFLICT DO UPDATE in plain SQL (same text on SQLite and PostgreSQL).

    Django's bulk_create spent most of a large rebuild preparing values one
    field at a time; rows here are already plain values. One statement per
    thousand rows, not one per row: on SQLite the FTS5 triggers flush the
    full-text index's pending terms at the end of every statement, which made
    row-by-row inserts about ten times slower (bench/RESULTS.md), and on
    PostgreSQL it saves a round trip per row.
    """
    if connection.vendor == "postgresql":
        _upsert_postgresql(rows)
        return
    table = SearchDocument._meta.db_table
    columns = ", ".join(_UPSERT_COLUMNS)
    row_marks = "(" + ", ".join(["%s"] * len(_UPSERT_COLUMNS)) + ")"
    updates = ", ".join(
        f"{column} = excluded.{column}"
        for column in _UPSERT_COLUMNS
        if column not in ("kind", "object_id")
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_ROWS_PER_STATEMENT):
            chunk = rows[start : start + UPSERT_ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608 - constants and marks only
                f"VALUES {', '.join([row_marks] * len(chunk))} "
                f"ON CONFLICT (kind, object_id) DO UPDATE SET {updates}",
                [value for row in chunk for value in row],
            )


def _upsert_postgresql(rows: list[tuple[Any, ...]]) -> None:
    """COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.

    A multi-row INSERT with thousands of parameters spent longer in the
    driver's query parsing than in the server; COPY sends the rows as data.
    """
    table = SearchDocument._meta.db_table
    columns = ", ".join(_UPSERT_COLUMNS)
    updates = ", ".join(
        f"{column} = excluded.{column}"
        for column in _UPSERT_COLUMNS
        if column not in ("kind", "object_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            # Constants only. Dropped at commit; WITH NO DATA copies no constraints.
            f"CREATE TEMPORARY TABLE search_upsert ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY search_upsert ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM search_upsert "  # noqa: S608
            f"ON CONFLICT (kind, object_id) DO UPDATE SET {updates}"
        )
        cursor.execute("DROP TABLE search_upsert")


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
                    vectors.stored_label(encoder_name) if block is not None else "",
                    0 if block is None else len(block),
                    None if block is None else vectors.pack(block),
                    revision,
                    now,
                )
            )
        if rows:
            _upsert(rows)
        report.indexed = len(rows)
    # Outside the transaction above, which holds the revision counter's row
    # lock: parallel indexers wait for each other only while writing rows.
    # (A term recorded without its document only widens a typo correction.)
    if documents:
        _record_terms(documents)
    return report


def rebuild(
    *, kinds: Iterable[str] | None = None, batch_size: int = BATCH_SIZE, workers: int = 1
) -> dict[str, int]:
    """Re-indexes every object of ``kinds`` (default: all registered) in batches.

    With ``workers`` > 1 the batches are indexed by that many forked processes
    (see ``in_workers``): loading and encoding use every core while the rows
    of one batch are written. Rows of objects that no longer exist are
    removed at the end.
    """
    counts: dict[str, int] = {}
    for kind in kinds or registry.registered_kinds():
        source = registry.get_source(kind)
        if source is None:
            continue
        seen: set[int] = set()
        batches: list[tuple[str, list[int]]] = []
        batch: list[int] = []
        for object_id in source.all_ids():
            batch.append(int(object_id))
            if len(batch) >= batch_size:
                batches.append((kind, batch))
                seen.update(batch)
                batch = []
        if batch:
            batches.append((kind, batch))
            seen.update(batch)
        for _ in in_workers(_index_batch, batches, workers=workers):
            pass
        if len(batches) > 1:
            after_bulk_index()
        stale = set(SearchDocument.objects.filter(kind=kind).values_list("object_id", flat=True))
        stale -= seen
        if stale:
            write_documents(kind=kind, documents=[], removed_ids=sorted(stale))
        counts[kind] = SearchDocument.objects.filter(kind=kind).count()
    return counts


def after_bulk_index() -> None:
    """Refreshes the planner's statistics after many rows changed at once.

    PostgreSQL plans full-text queries from the tsvector statistics (how
    common each word is): without them, right after a large rebuild, it
    guessed wrong and searches took seconds. The GIN index's pending list
    (fast inserts) is merged too, so searches do not scan it.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT gin_clean_pending_list('search_doc_fts'::regclass)")
            cursor.execute("ANALYZE search_searchdocument")
            cursor.execute("ANALYZE search_searchterm")
        else:
            cursor.execute("ANALYZE search_searchdocument")


def _index_batch(job: tuple[str, list[int]]) -> int:
    kind, object_ids = job
    return index_now(kind=kind, object_ids=object_ids).indexed


Job = TypeVar("Job")
Result = TypeVar("Result")


def can_fork_workers() -> bool:
    """Whether forked processes would see the same database as this one.

    Not inside a transaction (its writes are invisible to other connections,
    as in tests) and not on an in-memory SQLite database.
    """
    if not hasattr(os, "fork") or connection.in_atomic_block:
        return False
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict.get("NAME", ""))
        return bool(name) and ":memory:" not in name and "mode=memory" not in name
    return True


def in_workers(
    function: Callable[[Job], Result], jobs: Iterable[Job], *, workers: int
) -> Iterator[Result]:
    """Yields ``function(job)`` for every job, run by ``workers`` forked processes.

    Each process opens its own database connection (the parent closes its
    own before forking; connections must never be shared across a fork) and
    inherits the loaded encoders. Results come in completion order. With one
    worker, or when forking cannot work (``can_fork_workers``), the jobs run
    here, one after the other.
    """
    if workers <= 1 or not can_fork_workers():
        for job in jobs:
            yield function(job)
        return
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        yield from pool.imap_unordered(function, jobs, chunksize=1)


# Rows re-embedded per pass of the periodic job below: a pass stays short, and
# a deployment that changed an encoder heals in the background (the command
# ``rebuild_search_index --workers N`` does a large index faster).
STALE_BATCH = 1_000


def refresh_stale_vectors(*, limit: int = STALE_BATCH) -> int:
    """Re-indexes up to ``limit`` rows embedded by another encoder than their kind's now.

    After an upgrade (a new ``vectors.FORMAT_VERSIONS``) or a
    ``SEARCH_ENCODERS`` change, searches ignore the old
    vectors and rank those rows by words alone until they are re-embedded;
    the scheduled job ``refresh_search_vectors`` calls this every minute, so
    nobody has to remember ``rebuild_search_index``. Returns how many rows
    were re-indexed.
    """
    refreshed = 0
    for kind in registry.registered_kinds():
        if refreshed >= limit:
            break
        stale = (
            SearchDocument.objects.filter(kind=kind)
            .exclude(encoder=vectors.stored_label(encoder_for(kind)))
            # A row with no vector at all had nothing to embed: it stays as it is.
            .exclude(encoder="")
            .order_by("-id")  # newest first: what people search for most
            .values_list("object_id", flat=True)[: limit - refreshed]
        )
        object_ids = [int(object_id) for object_id in stale]
        for start in range(0, len(object_ids), BATCH_SIZE):
            report = index_now(kind=kind, object_ids=object_ids[start : start + BATCH_SIZE])
            refreshed += report.indexed + report.removed
    return refreshed
