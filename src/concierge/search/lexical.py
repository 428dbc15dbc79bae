"""Lexical (full-text) candidates: SQLite FTS5 or PostgreSQL tsvector, one interface.

A query becomes groups of alternatives, one group per meaningful word: the
word itself, a prefix form for the last word (search as you type), and, for a
word of 4+ letters the index has never seen, the known words one edit away
(typo tolerance; on PostgreSQL pg_trgm adds close words when none is one edit
away). Groups are OR-ed and ranked by BM25 (FTS5) or ts_rank (PostgreSQL)
with the title weighted above the body. Searches for customers and anonymous
visitors never look at the staff-only column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from concierge.search.models import SearchDocument, SearchTerm
from concierge.search.text import MAX_QUERY_LENGTH, edits1, query_terms

MIN_TYPO_LENGTH = 4
MAX_TYPO_LENGTH = 16
MAX_ALTERNATIVES = 4
SQLITE_TERMS_PER_QUERY = 10_000
# PostgreSQL: a word being typed matches the vocabulary's words that start with
# it, named one by one, when there are at most this many (else the index's own
# prefix match). Why: GIN cannot skip through a prefix match's posting lists
# ("card:*": every ticket with card, cards, cardholder...), so AND-ed with a
# rarer word it read them all (60-90 ms at 1M tickets) where named words take
# 7-20 ms. Measured on the bench's 1M-ticket index.
MAX_PREFIX_COMPLETIONS = 64

# At most this many matching documents are scored, the newest first: a word
# found in half a million tickets must not make one search score them all.
# (10,000 at 200,000 tickets put the PostgreSQL p95 at seconds, see
# bench/RESULTS.md; 2,000 -> 1,000 took the p95 of keyword searches in a
# million tickets from 90 to 71 ms, same-run A/B.) Articles keep a wider reach:
# most help centers are below it, so article ranking is exact there.
MAX_RANKED = 1_000
ARTICLE_MAX_RANKED = 2_000
# How PostgreSQL finds those newest matches (see _postgresql_windows): words
# in at least WALK_MIN_SHARE of the rows by walking the newest rows (at most
# WALK_MAX_ROWS of them); otherwise in windows of ids, newest first, the first
# sized to hold WINDOW_MARGIN x MAX_RANKED expected matches (at least
# FIRST_WINDOW ids), each next one WINDOW_GROWTH times wider.
WALK_MIN_SHARE = 0.07
# ...and for words that are each common but meet less often ("help card": 20 %
# and 27 % of a million tickets, 5 % together; at least MAX_RANKED /
# WALK_MAX_ROWS together, so the walk can fill), when even the rarest word is
# in WALK_MIN_RAREST_WORD_SHARE of the rows: the GIN index then reads every
# word's long posting list (250 ms at 1M tickets) where the walk reads
# MAX_RANKED / share rows (55 ms). Measured on the bench's 1M-ticket index.
WALK_MIN_RAREST_WORD_SHARE = 0.05
WALK_MAX_ROWS = 100_000
WINDOW_MARGIN = 1.0
FIRST_WINDOW = 10_000
WINDOW_GROWTH = 4

# Field weights: a title match says much more than a body match. Tuned on the
# validation splits of the evaluation (bench/eval_search.py).
TITLE_WEIGHT = 3.0
TAGS_WEIGHT = 2.0
BODY_WEIGHT = 1.0
STAFF_BODY_WEIGHT = 0.8


@dataclass
class LexicalQuery:
    terms: list[str]
    prefix_term: str = ""  # the last word, matched as a prefix too
    # PostgreSQL: the known words the prefix stands for (None: use the index's prefix match)
    completions: list[str] | None = None
    alternatives: dict[str, list[str]] = field(default_factory=dict)  # typo -> known words

    @property
    def highlight_terms(self) -> list[str]:
        found = list(self.terms)
        for alternatives in self.alternatives.values():
            found.extend(alternatives)
        return found

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse(query: str) -> LexicalQuery:
    """Splits a query into terms and looks up typo alternatives in the vocabulary."""
    query = query[:MAX_QUERY_LENGTH]
    terms = query_terms(query)
    if not terms:
        return LexicalQuery(terms=[])
    # Prefix only while the user is still typing the word (no trailing space)
    # and only when it is long enough to narrow anything down.
    last = terms[-1]
    prefix = (
        last if len(last) >= 3 and query.rstrip() == query and query.lower().endswith(last) else ""
    )
    return LexicalQuery(
        terms=terms,
        prefix_term=prefix,
        alternatives=_typo_alternatives(terms),
        completions=_completions(prefix) if prefix else None,
    )


def _completions(prefix: str) -> list[str] | None:
    """The vocabulary's words that start with ``prefix`` (PostgreSQL; None when too many).

    The vocabulary holds the words of public-facing text (see SearchTerm), so
    a completion that appears only in staff-only text or deep in a long body
    is not proposed; the word as typed is always matched exactly as well.
    """
    if connection.vendor != "postgresql" or not prefix.isalpha():
        return None
    # The B-tree with pattern ops answers LIKE 'abc%' (see _vocabulary_cursor).
    with _vocabulary_cursor() as cursor:
        cursor.execute(
            "SELECT term, to_tsvector('english', term)::text FROM search_searchterm"
            " WHERE term LIKE %s ORDER BY term LIMIT %s",
            [prefix + "%", MAX_PREFIX_COMPLETIONS + 1],
        )
        found = cursor.fetchall()
        cursor.execute("SELECT to_tsvector('english', %s)::text", [prefix])
        seen = {cursor.fetchone()[0], ""}  # the typed word's own stem; stopwords
    if len(found) > MAX_PREFIX_COMPLETIONS:
        return None
    # One word per stem ("names", "named" -> "name"): the planner adds up the
    # shares of OR-ed words, so repeats would make it expect too many matches.
    completions = []
    for word, stem in found:
        if stem not in seen:
            seen.add(stem)
            completions.append(word)
    return completions


def _typo_alternatives(terms: list[str]) -> dict[str, list[str]]:
    candidates = [
        term for term in terms if MIN_TYPO_LENGTH <= len(term) <= MAX_TYPO_LENGTH and term.isalpha()
    ]
    if not candidates:
        return {}
    known = _existing_terms(candidates)
    unknown = [term for term in candidates if term not in known]
    if not unknown:
        return {}
    # One lookup for the one-edit variants of every unknown word (a round trip
    # per word cost ~3 ms each on PostgreSQL).
    variants = {term: edits1(term) for term in unknown}
    existing = _existing_terms(sorted(set().union(*variants.values())))
    alternatives: dict[str, list[str]] = {}
    for term in unknown:
        # Words that keep the first letter are likelier (typos rarely hit it).
        close = sorted(
            variants[term] & existing,
            key=lambda word: (word[0] != term[0], abs(len(word) - len(term)), word),
        )
        if not close and connection.vendor == "postgresql" and _has_trigram():
            close = _trigram_neighbours(term)
        if close:
            alternatives[term] = close[:MAX_ALTERNATIVES]
    return alternatives


def _existing_terms(candidates: list[str]) -> set[str]:
    """The candidates that are in the vocabulary.

    On PostgreSQL with bitmap scans off for the query: pg_trgm's index also
    answers equality, and the planner used it for the one-edit variants of a
    word (10 seconds for the 600 variants of a 10-letter word, 80 ms for two
    words) instead of the unique B-tree index. GIN is only ever read by bitmap
    scans, so this leaves the B-tree.
    """
    if not candidates:
        return set()
    if connection.vendor == "postgresql":
        with _vocabulary_cursor() as cursor:
            cursor.execute(
                "SELECT term FROM search_searchterm WHERE term = ANY(%s::varchar[])",
                [candidates],
            )
            return {row[0] for row in cursor.fetchall()}
    found: set[str] = set()
    # In chunks: SQLite refuses statements with more than 32,766 parameters.
    for start in range(0, len(candidates), SQLITE_TERMS_PER_QUERY):
        chunk = candidates[start : start + SQLITE_TERMS_PER_QUERY]
        found.update(SearchTerm.objects.filter(term__in=chunk).values_list("term", flat=True))
    return found


@contextmanager
def _plans_off(cursor: Any, *methods: str) -> Iterator[None]:
    """Turns the named PostgreSQL plan types off for this session while the block runs.

    ``methods`` are planner settings without their ``enable_`` prefix
    ("seqscan", "bitmapscan", ...), constants of this module only.
    """
    for method in methods:
        cursor.execute(f"SET enable_{method} = off")
    try:
        yield
    finally:
        for method in methods:
            cursor.execute(f"RESET enable_{method}")


@contextmanager
def _vocabulary_cursor() -> Iterator[Any]:
    """A PostgreSQL cursor that reads the vocabulary through its B-tree indexes.

    Bitmap scans are off while it is open: GIN (pg_trgm's index) is only read
    by bitmap scans, and the planner would otherwise pick it for equality and
    LIKE 'abc%' lookups that the B-trees answer in a fraction of the time.
    """
    with connection.cursor() as cursor, _plans_off(cursor, "bitmapscan"):
        yield cursor


_trigram_available: bool | None = None


def _has_trigram() -> bool:
    global _trigram_available
    if _trigram_available is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            _trigram_available = cursor.fetchone() is not None
    return _trigram_available


def _trigram_neighbours(term: str) -> list[str]:
    """The vocabulary's words most similar to ``term`` by trigrams, through pg_trgm's GIN index.

    The planner prices ``similarity`` like a cheap operator, so on a small
    vocabulary (5,000 words) it chose to compute it for every row (14 ms a
    word, measured) over the GIN index (2-4 ms); with plain scans off, only
    the trigram index can answer.
    """
    with connection.cursor() as cursor, _plans_off(cursor, "seqscan", "indexscan", "indexonlyscan"):
        cursor.execute(
            "SELECT term FROM search_searchterm WHERE term %% %s "
            "ORDER BY similarity(term, %s) DESC, term LIMIT %s",
            [term, term, MAX_ALTERNATIVES],
        )
        return [row[0] for row in cursor.fetchall() if row[0] != term]


def _fts5_string(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts5_expression(
    parsed: LexicalQuery, *, include_staff_text: bool, match_all: bool = False
) -> str:
    groups = []
    for term in parsed.terms:
        options = [_fts5_string(term)]
        # Not for a word with an apostrophe: FTS5 splits "isn't" into the phrase
        # "isn t", and "isn t"* expands its last token to every word starting
        # with t (1.2 s at 200,000 tickets).
        if term == parsed.prefix_term and "'" not in term:
            options.append(_fts5_string(term) + "*")
        options.extend(_fts5_string(word) for word in parsed.alternatives.get(term, []))
        groups.append("(" + " OR ".join(options) + ")")
    expression = (" AND " if match_all else " OR ").join(groups)
    if include_staff_text:
        return expression
    # Column filter: customers' and visitors' searches never read staff-only text.
    return "{title body tags} : (" + expression + ")"


def _tsquery_lexeme(word: str) -> str:
    return word.split("'")[0]


def tsquery_expression(
    parsed: LexicalQuery, *, include_staff_text: bool, match_all: bool = False
) -> str:
    # Weights: A title, B tags, C body, D staff-only text (see migration 0002).
    weights = "" if include_staff_text else "ABC"
    groups = []
    for term in parsed.terms:
        options = []
        lexeme = _tsquery_lexeme(term)
        exact = ":" + weights if weights else ""
        if lexeme:
            prefix = term == parsed.prefix_term and parsed.completions is None
            options.append(lexeme + (":*" + weights if prefix else exact))
        if term == parsed.prefix_term:
            options.extend(word + exact for word in parsed.completions or [])
        options.extend(word + exact for word in parsed.alternatives.get(term, []))
        if options:
            groups.append("(" + " | ".join(options) + ")")
    return (" & " if match_all else " | ").join(groups)


def candidates(
    *,
    parsed: LexicalQuery,
    kinds: list[str],
    allowed: QuerySet[Any] | None,
    include_staff_text: bool,
    limit: int,
    fill_with_partial: bool = True,
    fall_back_to_any_word: bool = True,
) -> list[tuple[int, float]]:
    """Returns up to ``limit`` (document pk, score) pairs, best first; higher is better.

    Documents matching every word come first. Documents matching only some
    words follow when none matches them all, or, with ``fill_with_partial``
    (questions in natural language, as asked of articles), to fill ``limit``.
    Without ``fall_back_to_any_word`` no document matching only some words is
    returned at all (hybrid ticket search: semantics covers those, and an
    any-word match over a million tickets is slow and mostly noise).
    (Besides ranking a precise match first, this spares a large index from
    scoring every document that contains one common word.)
    ``allowed`` (a queryset of SearchDocument) narrows the match to rows the
    user may see, inside the same SQL query; None means every row of ``kinds``.
    """
    if not parsed or not kinds:
        return []
    every_word = _run(parsed, kinds, allowed, include_staff_text, limit, match_all=True)
    if len(every_word) >= limit or len(parsed.terms) == 1:
        return every_word
    if (every_word and not fill_with_partial) or (not every_word and not fall_back_to_any_word):
        return every_word
    some_words = _run(parsed, kinds, allowed, include_staff_text, limit, match_all=False)
    lift = max((score for _, score in some_words), default=0.0)
    found = {document_id for document_id, _ in every_word}
    merged = [(document_id, score + lift) for document_id, score in every_word]
    merged += [
        (document_id, score) for document_id, score in some_words if document_id not in found
    ]
    return merged[:limit]


def _run(
    parsed: LexicalQuery,
    kinds: list[str],
    allowed: QuerySet[Any] | None,
    include_staff_text: bool,
    limit: int,
    *,
    match_all: bool,
) -> list[tuple[int, float]]:
    restriction = ""
    restriction_params: list[Any] = []
    if allowed is not None and connection.vendor == "postgresql":
        restriction, restriction_params = _inline_restriction(allowed)
    elif allowed is not None:
        allowed_sql, allowed_params = allowed.values("id").query.sql_with_params()
        restriction = f" AND d.id IN ({allowed_sql})"
        restriction_params = list(allowed_params)
    kind_marks = ", ".join(["%s"] * len(kinds))
    max_ranked = ARTICLE_MAX_RANKED if "article" in kinds else MAX_RANKED
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            expression = tsquery_expression(
                parsed, include_staff_text=include_staff_text, match_all=match_all
            )
            if not expression:
                return []
            return _postgresql_windows(
                cursor,
                expression,
                kind_marks,
                kinds,
                restriction,
                restriction_params,
                limit,
                max_ranked,
            )
        expression = fts5_expression(
            parsed, include_staff_text=include_staff_text, match_all=match_all
        )
        cursor.execute(
            # Only placeholders and Django-compiled SQL are formatted in.
            "SELECT id, score FROM ("  # noqa: S608
            "  SELECT d.id AS id, bm25(search_fts, %s, %s, %s, %s) AS score"
            "  FROM search_fts JOIN search_searchdocument d ON d.id = search_fts.rowid"
            f"  WHERE search_fts MATCH %s AND d.kind IN ({kind_marks}){restriction}"
            "  ORDER BY search_fts.rowid DESC LIMIT %s"
            ") ORDER BY score, id LIMIT %s",
            [
                TITLE_WEIGHT,
                BODY_WEIGHT,
                STAFF_BODY_WEIGHT if include_staff_text else 0.0,
                TAGS_WEIGHT,
                expression,
                *kinds,
                *restriction_params,
                max_ranked,
                limit,
            ],
        )
        # FTS5's bm25() is negative, more negative = better; flip it.
        return [(row[0], -float(row[1])) for row in cursor.fetchall()]


def _inline_restriction(allowed: QuerySet[Any]) -> tuple[str, list[Any]]:
    """The allowed rows' condition as SQL on the searched table itself (PostgreSQL).

    ``id IN (SELECT id FROM the same table WHERE ...)`` made PostgreSQL,
    without fresh statistics, probe the primary key once per allowed row
    (10,000 public articles: 130 ms); the same condition written on the
    searched rows is one filter. Conditions that need a join (none today)
    keep the subquery.
    """
    query = allowed.query
    table = SearchDocument._meta.db_table
    if list(query.alias_map) == [table]:
        sql, params = query.get_compiler(connection=connection).compile(query.where)
        if sql:
            return f" AND ({sql})", list(params)
        return "", []
    allowed_sql, allowed_params = allowed.values("id").query.sql_with_params()
    return f" AND {table}.id IN ({allowed_sql})", list(allowed_params)


def _estimated_share(cursor: Any, expression: str) -> tuple[float, float]:
    """The share of index rows PostgreSQL's statistics expect to match ``expression``,
    and the number of index rows.

    The planner's own estimate (``tsquerysel``: the most common lexemes and
    their frequencies from ANALYZE, with stemming, AND / OR and prefixes
    handled) is read from a plain EXPLAIN, which costs a fraction of a
    millisecond and no table access.
    """
    cursor.execute(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM search_searchdocument"
        " WHERE search_vector @@ to_tsquery('english', %s)",
        [expression],
    )
    plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    estimated_rows = float(plan[0]["Plan"]["Plan Rows"])
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'search_searchdocument'::regclass")
    rows = float(cursor.fetchone()[0])
    return (min(1.0, estimated_rows / rows) if rows > 0 else 0.0), rows


def _rarest_word_share(cursor: Any, expression: str) -> float:
    """The smallest estimated share among the AND-ed words of ``expression`` (0 for one word)."""
    words = expression.split(" & ")
    if len(words) < 2:
        return 0.0
    return min(_estimated_share(cursor, word)[0] for word in words)


def _postgresql_windows(
    cursor: Any,
    expression: str,
    kind_marks: str,
    kinds: list[str],
    restriction: str,
    restriction_params: list[Any],
    limit: int,
    max_ranked: int,
) -> list[tuple[int, float]]:
    """The newest ``max_ranked`` matches (MAX_RANKED, for articles ARTICLE_MAX_RANKED), ranked.

    A GIN index finds matches in no particular order, so "the newest N
    matches" has two good plans, and which one depends on how common the
    words are (PostgreSQL's own choice, made per query, went wrong both ways
    at 200,000 tickets and took seconds):

    * Common words (at least WALK_MIN_SHARE of the rows): walk the primary
      key newest first, testing each row, until max_ranked match; that reads
      about max_ranked / share rows. The walk stops WALK_MAX_ROWS back in
      case the estimate was wrong (two common words that rarely meet); a
      table smaller than that never walks.
    * Otherwise (and below where a walk stopped): the GIN bitmap AND-ed with
      an id window, newest window first. The first window is sized from the
      estimated share to hold max_ranked matches, so one window usually
      does; each next one is WINDOW_GROWTH times wider. A rare word's window
      is the whole table: one query.

    The share comes from the planner's statistics (``_estimated_share``);
    the tsquery is inlined (bound client-side), not hidden in a CTE, so the
    planner sees its selectivity.
    """
    cursor.execute("SELECT max(id) FROM search_searchdocument")
    newest = cursor.fetchone()[0]
    if newest is None:
        return []
    share, table_rows = _estimated_share(cursor, expression)
    found: list[tuple[int, float]] = []
    upper = int(newest)
    weights = [STAFF_BODY_WEIGHT / 10, BODY_WEIGHT / 10, TAGS_WEIGHT / 10, TITLE_WEIGHT / 10]

    def matches_between(lower: int, upper: int) -> None:
        cursor.execute(
            # Only placeholders and Django-compiled SQL are formatted in.
            "SELECT m.id, ts_rank(%s::float4[], m.search_vector, "  # noqa: S608
            "to_tsquery('english', %s), 1) FROM ("
            # The table is not aliased: the restriction names its columns in full.
            "  SELECT search_searchdocument.id, search_searchdocument.search_vector"
            "  FROM search_searchdocument"
            "  WHERE search_searchdocument.search_vector @@ to_tsquery('english', %s)"
            "  AND search_searchdocument.id > %s AND search_searchdocument.id <= %s"
            f"  AND search_searchdocument.kind IN ({kind_marks}){restriction}"
            "  ORDER BY search_searchdocument.id DESC LIMIT %s"
            ") m",
            [
                weights,
                expression,
                expression,
                lower,
                upper,
                *kinds,
                *restriction_params,
                max_ranked - len(found),
            ],
        )
        found.extend((row[0], float(row[1])) for row in cursor.fetchall())

    with _plans_off(cursor, "seqscan"):
        # A table within the walk's reach (10,000 articles) is one GIN window
        # anyway, and cheaper that way: a walk would test every row's words.
        if table_rows > WALK_MAX_ROWS and (
            share >= WALK_MIN_SHARE
            or (
                share >= max_ranked / WALK_MAX_ROWS
                and _rarest_word_share(cursor, expression) >= WALK_MIN_RAREST_WORD_SHARE
            )
        ):
            with _plans_off(cursor, "bitmapscan"):
                lower = max(0, upper - WALK_MAX_ROWS)
                matches_between(lower, upper)
                upper = lower
        width = max(FIRST_WINDOW, int(WINDOW_MARGIN * max_ranked / max(share, 1e-9)))
        with _plans_off(cursor, "indexscan"):
            while upper > 0 and len(found) < max_ranked:
                lower = max(0, upper - width)
                matches_between(lower, upper)
                upper, width = lower, width * WINDOW_GROWTH
    found.sort(key=lambda item: (-item[1], item[0]))
    return found[:limit]
