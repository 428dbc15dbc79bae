"""Search reads: one service for articles, tickets and customers.

``search`` narrows the index to what the user may find (core.policy) inside
the SQL, ranks lexical and semantic evidence (ranking.py), then looks the
hits up again with the same rule and each source's own ``can_view`` re-check,
so a hit can never show something the user may not see, even when the index
lags a write by one background task.

Searches for customers and visitors ask for the relevance cut-off
(``cut_off=True``, see ranking.py): an off-topic question then gets no result
instead of the least bad one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.safestring import SafeString, mark_safe

from concierge.core import policy
from concierge.core.errors import ValidationFailed
from concierge.search import lexical, ranking, registry, vectors
from concierge.search.actions import encoder_for
from concierge.search.documents import KINDS
from concierge.search.encoders import OTHER_LANGUAGE_SHARES, encode_question
from concierge.search.models import SearchDocument
from concierge.search.text import highlight

MODES = ("hybrid", "lexical", "semantic")
MAX_QUERY_CHARACTERS = 1000
MAX_LIMIT = 100
FILTERABLE = ("category_id", "section_id", "status", "tag")
# Above this many vectors, a hybrid search with lexical matches re-ranks them
# instead of scanning the whole matrix (see bench/RESULTS.md for the cost of a scan).
RERANK_ABOVE_VECTORS = 200_000


@dataclass
class SearchHit:
    kind: str
    object_id: int
    title: str
    snippet_html: SafeString  # escaped text, matches in <mark>
    score: float
    extra: dict[str, Any] = field(default_factory=dict)
    title_html: SafeString = field(default_factory=lambda: mark_safe(""))  # noqa: S308 - empty


def _validate(query: str, mode: str, limit: int) -> str:
    if mode not in MODES:
        raise ValidationFailed(
            f"Unknown search mode {mode!r}.",
            field_errors={"mode": [f"Use one of {', '.join(MODES)}."]},
        )
    if len(query) > MAX_QUERY_CHARACTERS:
        raise ValidationFailed(
            f"Search text is limited to {MAX_QUERY_CHARACTERS:,} characters.",
            field_errors={"q": [f"At most {MAX_QUERY_CHARACTERS:,} characters."]},
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"The number of results must be between 1 and {MAX_LIMIT}.",
            field_errors={"limit": [f"Between 1 and {MAX_LIMIT}."]},
        )
    return " ".join(query.split())


def _allowed_rows(
    user: Any, kinds: list[str], locale: str, filters: dict[str, Any]
) -> QuerySet[SearchDocument] | None:
    """Index rows the user may find with these filters; None when that is every row."""
    condition = policy.search_document_filter(user)
    if locale:
        condition &= Q(locale__in=[locale, ""])
    for name, value in filters.items():
        if name not in FILTERABLE:
            raise ValidationFailed(
                f"Unknown search filter {name!r}.",
                field_errors={name: [f"Filters: {', '.join(FILTERABLE)}."]},
            )
        if name == "tag":
            condition &= Q(tags__icontains=str(value))
        else:
            condition &= Q(**{f"extra__{name}": value})
    if not condition:
        return None
    return SearchDocument.objects.filter(condition, kind__in=kinds)


def ranked_document_ids(
    *,
    user: Any,
    query: str,
    kinds: list[str],
    mode: str,
    allowed: QuerySet[SearchDocument] | None,
    limit: int,
    weights: ranking.Weights | None = None,
    cut_off: bool = False,
) -> tuple[list[tuple[int, float]], lexical.LexicalQuery]:
    """Ranks index rows (pks) of ``kinds`` for ``query``; best first.

    ``weights`` overrides the fitted weights of each kind's encoder (tuning);
    ``cut_off`` drops rows below the encoder's calibrated relevance (not in
    lexical mode, whose scores are relative to the query's best match).
    """
    parsed = lexical.parse(query)
    include_staff_text = policy.can_search_staff_text(user)
    allowed_ids: AbstractSet[int] | None = None
    groups: dict[str, list[str]] = {}
    for kind in kinds:
        groups.setdefault(encoder_for(kind) if mode != "lexical" else "", []).append(kind)
    ranked: list[tuple[int, float]] = []
    for encoder_name, group_kinds in groups.items():
        # The query's vector is computed while the database looks for words:
        # encoding (tens of ms with e5) and the lexical query overlap.
        query_vector = (
            _ENCODING_POOL.submit(_query_vector, encoder_name, query) if encoder_name else None
        )
        lexical_hits = (
            lexical.candidates(
                parsed=parsed,
                kinds=group_kinds,
                allowed=allowed,
                include_staff_text=include_staff_text,
                limit=max(ranking.CANDIDATES, limit),
                # Articles answer questions asked in many words; tickets and
                # customers are looked up by the words they contain. With
                # meaning beside it, articles that match only some words are
                # left to the semantic side once one matches them all: that
                # any-word query matched ~70 % of 10,000 articles and was a
                # third of a hybrid search there.
                fill_with_partial="article" in group_kinds
                and (mode == "lexical" or not encoder_name),
                fall_back_to_any_word="article" in group_kinds
                or mode == "lexical"
                or not encoder_name,
            )
            if mode != "semantic" or not encoder_name
            else []
        )
        semantic = None
        if encoder_name:
            matrix = vectors.matrix(encoder_name)
            matrix.refresh()
            if allowed is not None and allowed_ids is None:
                allowed_ids = _allowed_ids(
                    allowed,
                    revision=(matrix.revision, matrix.deletions),
                    # A customer's rule reads their tickets (core.policy),
                    # which change without the index: never kept.
                    reusable=policy.customer_of(user) is None,
                )
            scope = allowed_ids
            if mode == "hybrid" and lexical_hits and matrix.size > RERANK_ABOVE_VECTORS:
                # A very large index (a million tickets): re-rank the lexical
                # candidates by meaning instead of scanning every vector.
                scope = {document_id for document_id, _ in lexical_hits}
                if allowed_ids is not None:
                    scope &= allowed_ids
            vector = (
                query_vector.result()
                if query_vector is not None
                else _query_vector(encoder_name, query)
            )
            semantic = matrix.scores(vector, kinds=group_kinds, allowed_ids=scope)
        fused = ranking.fuse(
            lexical=lexical_hits,
            semantic=semantic,
            mode=mode,
            weights=weights or ranking.weights_for(encoder_name, connection.vendor),
            limit=limit,
        )
        threshold = (
            ranking.min_relevance(encoder_name, _question_language(encoder_name, query))
            if cut_off and semantic
            else None
        )
        # No vectors of this encoder yet (the index is being rebuilt after an
        # encoder change): without semantic evidence nothing can be judged.
        if threshold is not None and semantic is not None and semantic.document_ids.size:
            fused = [(document_id, score) for document_id, score in fused if score >= threshold]
        ranked.extend(fused)
    ranked.sort(key=lambda item: (-item[1], item[0]))
    return ranked, parsed


# How sure the detector must be that a question is in another language before
# it is treated as such (its cut-off skipped, its vector from the multilingual
# model alone). Short English searches are often misread with less ("weather
# on mars": French, 0.77); of CLINC150's 3,100 English validation questions, 1
# is read as another language at 0.9 or more, while whole sentences in French,
# German or Italian get 1.0.
OTHER_LANGUAGE_CONFIDENCE = 0.9


@lru_cache(maxsize=4096)
def _question_language(encoder_name: str, query: str) -> str:
    """The question's language when the encoder's results depend on it, else ""."""
    if encoder_name not in OTHER_LANGUAGE_SHARES:
        return ""
    # The triage's offline detector (fastText lite, a fraction of a millisecond).
    from concierge.ai.predictors import predict_language

    detected = predict_language(query)
    return detected.label if detected.confidence >= OTHER_LANGUAGE_CONFIDENCE else ""


# The rows a visitor (or an agent with filters) may find, per restriction and
# index revision: every visitor of a help center shares one, and it changes
# only with the index. Fetching them was ~17 ms of a 10,000-article search on
# PostgreSQL (profiled). Bounded: a few restrictions, none over MAX_IDS rows.
_ALLOWED_IDS: OrderedDict[tuple[Any, ...], frozenset[int]] = OrderedDict()
_ALLOWED_IDS_LOCK = threading.Lock()
ALLOWED_IDS_KEPT = 8
ALLOWED_IDS_MAX_IDS = 50_000


def _allowed_ids(
    allowed: QuerySet[SearchDocument], *, revision: tuple[int, int], reusable: bool
) -> AbstractSet[int]:
    """The pks of ``allowed``; kept for the next search while the index is unchanged."""
    if not reusable:
        return set(allowed.values_list("id", flat=True))
    sql, params = allowed.values("id").query.sql_with_params()
    key = (connection.alias, sql, repr(params), revision)
    with _ALLOWED_IDS_LOCK:
        kept = _ALLOWED_IDS.get(key)
        if kept is not None:
            _ALLOWED_IDS.move_to_end(key)
            return kept
    found = frozenset(allowed.values_list("id", flat=True))
    if len(found) <= ALLOWED_IDS_MAX_IDS:
        with _ALLOWED_IDS_LOCK:
            _ALLOWED_IDS[key] = found
            while len(_ALLOWED_IDS) > ALLOWED_IDS_KEPT:
                _ALLOWED_IDS.popitem(last=False)
    return found


def forget_allowed_ids() -> None:
    """Drops the kept restrictions (tests roll the database back under them)."""
    with _ALLOWED_IDS_LOCK:
        _ALLOWED_IDS.clear()


# Threads that encode queries beside the lexical step (onnxruntime and numpy
# release the GIL); two, so a second search in the process does not queue.
_ENCODING_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-encoder")


@lru_cache(maxsize=4096)
def _query_vector(encoder_name: str, query: str) -> np.ndarray:
    """The query's vector; recent ones are kept (a typed query is searched again and again)."""
    vector = encode_question(encoder_name, query, _question_language(encoder_name, query))
    vector.setflags(write=False)
    return vector


def search(
    *,
    user: Any,
    query: str,
    kinds: Collection[str] = KINDS,
    mode: str = "hybrid",
    locale: str = "",
    limit: int = 20,
    filters: dict[str, Any] | None = None,
    cut_off: bool = False,
) -> list[SearchHit]:
    """Finds articles, tickets and customers ``user`` may see, best first.

    ``locale`` keeps only rows in that locale (or locale-free ones);
    ``cut_off`` applies the relevance cut-off (searches by customers and
    visitors, not agents' work searches).
    """
    query = _validate(query, mode, limit)
    wanted = [
        kind for kind in KINDS if kind in set(kinds) and kind in policy.searchable_kinds(user)
    ]
    if not query or not wanted:
        return []
    allowed = _allowed_rows(user, wanted, locale, filters or {})
    # Ask for a few more than needed: the re-check below may drop some.
    ranked, parsed = ranked_document_ids(
        user=user,
        query=query,
        kinds=wanted,
        mode=mode,
        allowed=allowed,
        limit=limit + 10,
        cut_off=cut_off,
    )
    return _hits(user, ranked, parsed.highlight_terms or parsed.terms, limit)


def _hits(
    user: Any, ranked: list[tuple[int, float]], terms: list[str], limit: int
) -> list[SearchHit]:
    if not ranked:
        return []
    scores = dict(ranked)
    rows = {
        row.pk: row
        for row in SearchDocument.objects.filter(policy.search_document_filter(user))
        .filter(pk__in=list(scores))
        .defer("vectors")
    }
    # Each source re-checks its own objects with core.policy (the index may lag).
    visible: dict[str, set[int]] = {}
    for kind in {row.kind for row in rows.values()}:
        source = registry.get_source(kind)
        object_ids = [row.object_id for row in rows.values() if row.kind == kind]
        if source is not None and source.can_view is not None:
            visible[kind] = source.can_view(user, object_ids)
        else:
            visible[kind] = set(object_ids)
    include_staff_text = policy.can_search_staff_text(user)
    hits: list[SearchHit] = []
    for document_id, score in ranked:
        row = rows.get(document_id)
        if row is None or row.object_id not in visible.get(row.kind, set()):
            continue
        text = row.body
        if include_staff_text and row.staff_body and not _matches(row.body, terms):
            text = row.staff_body if _matches(row.staff_body, terms) else row.body
        hits.append(
            SearchHit(
                kind=row.kind,
                object_id=row.object_id,
                title=row.title,
                snippet_html=mark_safe(highlight(text, terms)),  # noqa: S308 - escaped piecewise
                score=round(score, 4),
                extra=dict(row.extra),
                title_html=mark_safe(highlight(row.title, terms, length=500)),  # noqa: S308
            )
        )
        if len(hits) >= limit:
            break
    return hits


def _matches(text: str, terms: list[str]) -> bool:
    lowered = text.lower()
    return any(term in lowered for term in terms)


def suggest_articles(*, user: Any, text: str, limit: int = 5) -> list[SearchHit]:
    """Articles that may answer what a customer is typing (deflection), relevant ones only.

    No locale filter: an article's document holds every translation (a visitor
    may type in any of them); the caller shows the visitor's translation or
    its fallback.
    """
    return search(
        user=user,
        query=text[:MAX_QUERY_CHARACTERS],
        kinds=("article",),
        limit=limit,
        cut_off=True,
    )


def index_size() -> dict[str, int]:
    """Rows per kind in the index (for the admin and the rebuild command)."""
    counts: dict[str, int] = {}
    for kind in SearchDocument.objects.values_list("kind", flat=True).distinct():
        counts[kind] = SearchDocument.objects.filter(kind=kind).count()
    return counts
