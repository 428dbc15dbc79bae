"""Search at scale: bulk upserts, the vector loader, capped lexical candidates, workers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from concierge.search import actions, lexical, vectors
from concierge.search.documents import IndexDocument
from concierge.search.models import SearchDocument, SearchTerm

pytestmark = pytest.mark.django_db


def _tickets(first: int, count: int, title: str) -> list[IndexDocument]:
    return [
        IndexDocument(
            kind="ticket",
            object_id=object_id,
            title=f"{title} {object_id}",
            body=f"Customer message number {object_id} about a parcel.",
            audience="staff",
        )
        for object_id in range(first, first + count)
    ]


def _newest_ticket_documents(count: int, **filters: object) -> set[int]:
    """Ids of the ``count`` newest ticket documents (matching ``filters``)."""
    return set(
        SearchDocument.objects.filter(kind="ticket", **filters)
        .order_by("-id")
        .values_list("id", flat=True)[:count]
    )


def test_bulk_upsert_spans_several_statements_and_updates_rows_in_place(monkeypatch):
    monkeypatch.setattr(actions, "UPSERT_ROWS_PER_STATEMENT", 7)
    report = actions.write_documents(kind="ticket", documents=_tickets(1, 30, "Broken zipper"))
    assert report.indexed == 30
    assert SearchDocument.objects.filter(kind="ticket").count() == 30
    first_pk = SearchDocument.objects.get(kind="ticket", object_id=5).pk

    # Re-indexing changes the rows in place: same pk, new words in the full-text index.
    actions.write_documents(kind="ticket", documents=_tickets(1, 30, "Lost umbrella"))
    assert SearchDocument.objects.filter(kind="ticket").count() == 30
    assert SearchDocument.objects.get(kind="ticket", object_id=5).pk == first_pk
    parsed = lexical.parse("umbrella ")
    found = lexical.candidates(
        parsed=parsed, kinds=["ticket"], allowed=None, include_staff_text=True, limit=50
    )
    assert len(found) == 30
    stale = lexical.parse("zipper ")
    assert not lexical.candidates(
        parsed=stale, kinds=["ticket"], allowed=None, include_staff_text=True, limit=50
    )
    # The vocabulary for typo tolerance is still recorded (after the row transaction).
    assert SearchTerm.objects.filter(term="umbrella").exists()
    # Statistics and the GIN pending list after a bulk load (names must match migration 0002).
    actions.after_bulk_index()
    assert (
        len(
            lexical.candidates(
                parsed=parsed, kinds=["ticket"], allowed=None, include_staff_text=True, limit=50
            )
        )
        == 30
    )


def test_lexical_candidates_rank_only_the_newest_matches(monkeypatch):
    actions.write_documents(kind="ticket", documents=_tickets(1, 40, "Refund request"))
    monkeypatch.setattr(lexical, "MAX_RANKED", 6)
    # Small windows so PostgreSQL walks several of them before it has six.
    monkeypatch.setattr(lexical, "FIRST_WINDOW", 2)
    found = lexical.candidates(
        parsed=lexical.parse("refund "),
        kinds=["ticket"],
        allowed=None,
        include_staff_text=True,
        limit=20,
    )
    assert {document_id for document_id, _ in found} == _newest_ticket_documents(6)
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)


def test_articles_are_ranked_from_a_wider_reach_than_tickets(monkeypatch):
    actions.write_documents(kind="ticket", documents=_tickets(1, 8, "Refund request"))
    articles = [replace(document, kind="article") for document in _tickets(1, 8, "Refund policy")]
    actions.write_documents(kind="article", documents=articles)
    monkeypatch.setattr(lexical, "MAX_RANKED", 3)
    monkeypatch.setattr(lexical, "ARTICLE_MAX_RANKED", 5)
    for kind, reach in (("ticket", 3), ("article", 5)):
        found = lexical.candidates(
            parsed=lexical.parse("refund "), kinds=[kind], allowed=None,
            include_staff_text=True, limit=20,
        )  # fmt: skip
        newest = SearchDocument.objects.filter(kind=kind).order_by("-id")[:reach]
        assert {document_id for document_id, _ in found} == {row.id for row in newest}


@pytest.mark.parametrize("walk_min_share", [0.0, 2.0], ids=["walk-first", "windows-only"])
def test_a_common_word_walks_the_newest_rows_then_windows_take_over(monkeypatch, walk_min_share):
    # 40 matching tickets, then 20 newer ones without the word: a walk over
    # the newest 10 rows finds nothing and the id windows below must carry on.
    actions.write_documents(kind="ticket", documents=_tickets(1, 40, "Refund request"))
    actions.write_documents(kind="ticket", documents=_tickets(41, 20, "Delivery question"))
    actions.after_bulk_index()  # statistics: "refund" is in two thirds of the rows
    monkeypatch.setattr(lexical, "MAX_RANKED", 6)
    monkeypatch.setattr(lexical, "WALK_MIN_SHARE", walk_min_share)
    monkeypatch.setattr(lexical, "WALK_MAX_ROWS", 10)
    monkeypatch.setattr(lexical, "FIRST_WINDOW", 2)
    found = lexical.candidates(
        parsed=lexical.parse("refund"),
        kinds=["ticket"],
        allowed=None,
        include_staff_text=True,
        limit=20,
    )
    newest_refunds = _newest_ticket_documents(6, object_id__lte=40)
    assert {document_id for document_id, _ in found} == newest_refunds


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the walk is PostgreSQL's plan (SQLite: FTS5)"
)
@pytest.mark.parametrize("rarest_word_share", [0.0, 2.0], ids=["common-words-walk", "windows"])
def test_words_that_are_each_common_walk_the_newest_rows(monkeypatch, rarest_word_share):
    # "refund" in 2/3 of the rows, "request" in 1/2, together in 1/3: below
    # WALK_MIN_SHARE (set out of reach), so only the rarest-word rule can walk.
    actions.write_documents(kind="ticket", documents=_tickets(1, 20, "Refund request"))
    actions.write_documents(kind="ticket", documents=_tickets(21, 20, "Refund delay"))
    actions.write_documents(kind="ticket", documents=_tickets(41, 10, "Request callback"))
    actions.write_documents(kind="ticket", documents=_tickets(51, 10, "Delivery question"))
    actions.after_bulk_index()
    monkeypatch.setattr(lexical, "MAX_RANKED", 4)
    monkeypatch.setattr(lexical, "WALK_MIN_SHARE", 2.0)
    # 4 / 40: the estimated share of both words together (about 1/3) is enough
    # for a walk to fill; the walk over the newest 40 rows finds none of them
    # with both words, and the id windows below carry on.
    monkeypatch.setattr(lexical, "WALK_MAX_ROWS", 40)
    monkeypatch.setattr(lexical, "WALK_MIN_RAREST_WORD_SHARE", rarest_word_share)
    monkeypatch.setattr(lexical, "FIRST_WINDOW", 2)
    plans: list[str] = []
    original = lexical._rarest_word_share
    estimate = lexical._estimated_share

    def both_words_estimate(cursor, expression):
        # Statistics of a table filled inside the test's transaction vary with
        # what ran before: the pair's share and the row count are fixed here.
        return (1 / 3, 1000.0) if " & " in expression else estimate(cursor, expression)

    monkeypatch.setattr(lexical, "_estimated_share", both_words_estimate)

    def spy(cursor, expression):
        share = original(cursor, expression)
        plans.append("walk" if share >= rarest_word_share else "windows")
        return share

    monkeypatch.setattr(lexical, "_rarest_word_share", spy)
    with connection.cursor() as cursor:
        expression = lexical.tsquery_expression(
            lexical.parse("refund request"), include_staff_text=True, match_all=True
        )
        per_word = [estimate(cursor, word)[0] for word in expression.split(" & ")]
        assert original(cursor, expression) == pytest.approx(min(per_word))
    found = lexical.candidates(
        parsed=lexical.parse("refund request"),
        kinds=["ticket"],
        allowed=None,
        include_staff_text=True,
        limit=20,
        fill_with_partial=False,  # rows with both words only
    )
    assert plans == ["walk" if rarest_word_share == 0.0 else "windows"]
    newest_both = _newest_ticket_documents(4, object_id__lte=20)
    assert {document_id for document_id, _ in found} == newest_both


def test_typo_alternatives_come_from_the_vocabulary():
    actions.write_documents(kind="ticket", documents=_tickets(1, 1, "Millionaire account upgrade"))
    parsed = lexical.parse("millionare account")
    assert parsed.alternatives == {"millionare": ["millionaire"]}
    found = lexical.candidates(
        parsed=parsed, kinds=["ticket"], allowed=None, include_staff_text=True, limit=5
    )
    assert [document_id for document_id, _ in found] == list(
        SearchDocument.objects.values_list("id", flat=True)
    )


def test_every_misspelt_word_is_corrected_with_one_vocabulary_lookup():
    actions.write_documents(
        kind="ticket", documents=_tickets(1, 1, "Millionaire account upgrade delivered")
    )
    lexical.parse("warm")  # the pg_trgm probe is cached per process: not counted below
    with CaptureQueriesContext(connection) as queries:
        # A trailing space: no word is being typed (PostgreSQL would complete it).
        parsed = lexical.parse("millionare acount upgrade ")
    assert parsed.alternatives == {"millionare": ["millionaire"], "acount": ["account"]}
    lookups = [q["sql"] for q in queries.captured_queries if "search_searchterm" in q["sql"]]
    # The typed words, then the one-edit variants of both misspelt words at once.
    assert len(lookups) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_words_two_edits_away_come_from_the_trigram_index_and_settings_are_restored():
    actions.write_documents(kind="ticket", documents=_tickets(1, 1, "Millionaire account"))
    with CaptureQueriesContext(connection) as queries:
        parsed = lexical.parse("milionare ")  # two edits from "millionaire": no one-edit variant
    assert parsed.alternatives == {"milionare": ["millionaire"]}
    statements = [q["sql"] for q in queries.captured_queries]
    similar = next(i for i, sql in enumerate(statements) if "similarity(" in sql)
    # Plain scans off: only the GIN index can answer (the planner's own choice
    # computed the similarity of every word of the vocabulary).
    assert {"SET enable_seqscan = off", "SET enable_indexscan = off"} <= set(statements[:similar])
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            cursor.execute(f"SHOW {setting}")
            assert cursor.fetchone()[0] == "on"


def _find(query: str) -> set[int]:
    found = lexical.candidates(
        parsed=lexical.parse(query), kinds=["ticket"], allowed=None, include_staff_text=True,
        limit=10, fill_with_partial=False,
    )  # fmt: skip
    return {document_id for document_id, _ in found}


def test_a_word_being_typed_matches_the_words_it_begins():
    actions.write_documents(
        kind="ticket",
        documents=[
            *_tickets(1, 1, "Expired cardholder"),
            *_tickets(2, 1, "Expired cards"),
            *_tickets(3, 1, "Expired carpet"),
            *_tickets(4, 1, "Expired careers"),
        ],
    )
    by_object = dict(SearchDocument.objects.values_list("object_id", "id"))
    assert _find("expired card") == {by_object[1], by_object[2]}
    assert _find("expired card ") == {by_object[2]}  # a finished word matches itself only


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="named completions are PostgreSQL's plan"
)
def test_postgresql_names_the_completions_unless_there_are_too_many(monkeypatch):
    actions.write_documents(
        kind="ticket", documents=_tickets(1, 1, "Expired cardholder cards card cardigan")
    )
    parsed = lexical.parse("expired card")
    # One word per stem, not the typed word's own ("cards" is "card").
    assert parsed.completions == ["cardholder", "cardigan"]
    expression = lexical.tsquery_expression(parsed, include_staff_text=True, match_all=True)
    assert expression == "(expired) & (card | cardholder | cardigan)"
    assert _find("expired card") == set(SearchDocument.objects.values_list("id", flat=True))

    monkeypatch.setattr(lexical, "MAX_PREFIX_COMPLETIONS", 3)  # card, cardholder, cardigan, cards
    parsed = lexical.parse("expired card")
    assert parsed.completions is None
    expression = lexical.tsquery_expression(parsed, include_staff_text=True, match_all=True)
    assert expression == "(expired) & (card:*)"
    assert _find("expired card") == set(SearchDocument.objects.values_list("id", flat=True))


def _row(kind: str, object_id: int, block: np.ndarray) -> SearchDocument:
    return SearchDocument.objects.create(
        kind=kind,
        object_id=object_id,
        encoder="static",
        vector_count=len(block),
        vectors=vectors.pack(block),
        revision=1,
    )


def test_vector_loader_reads_rows_in_document_order_with_roles():
    matrix = vectors.VectorMatrix("static")
    dim = 8
    for object_id in (1, 2, 3):
        _row("ticket", object_id, np.full((1, dim), 0.1 * object_id, dtype=np.float32))
    # An article-like row with three vectors (whole, title, one passage).
    block = np.zeros((3, dim), dtype=np.float32)
    block[:, 0] = 1.0
    _row("article", 9, block)
    # A row of another width (an older encoder) is skipped, not misread.
    _row("article", 10, np.ones((1, dim + 2), dtype=np.float32))
    matrix.refresh()
    assert matrix.vectors.shape == (6, dim)
    assert list(matrix.document_ids) == sorted(matrix.document_ids)
    article_pk = SearchDocument.objects.get(kind="article", object_id=9).pk
    rows = matrix.document_ids == article_pk
    assert list(matrix.roles[rows]) == [
        vectors.ROLE_WHOLE,
        vectors.ROLE_TITLE,
        vectors.ROLE_PASSAGE,
    ]
    assert np.allclose(matrix.vectors[rows][:, 0], 1.0)
    query = np.zeros(dim, dtype=np.float32)
    query[0] = 1.0
    scores = matrix.scores(query, kinds=["article"], allowed_ids=None)
    assert list(scores.document_ids) == [article_pk]


def test_workers_fall_back_to_this_process_inside_a_transaction(articles):
    for object_id in range(1, 8):
        articles.add(object_id, f"Shipping guide {object_id}", "How parcels travel.")
    assert not actions.can_fork_workers()  # the test's transaction: forks would not see it
    counts = actions.rebuild(kinds=["article"], batch_size=2, workers=2)
    assert counts == {"article": 7}
    assert sorted(actions.in_workers(abs, [-3, -1, -2], workers=2)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_rebuild_with_worker_processes_indexes_every_batch(articles, settings):
    # Lexical only: no model session is carried into the forked workers here.
    settings.SEARCH_ENCODERS = {"article": "", "ticket": "", "customer": ""}
    for object_id in range(1, 12):
        articles.add(object_id, f"Returns policy {object_id}", "Send the parcel back.")
    counts = actions.rebuild(kinds=["article"], batch_size=3, workers=2)
    assert counts == {"article": 11}
    found = lexical.candidates(
        parsed=lexical.parse("returns policy"),
        kinds=["article"],
        allowed=None,
        include_staff_text=False,
        limit=20,
    )
    assert len(found) == 11
    if connection.vendor == "postgresql":
        assert actions.can_fork_workers()


def test_scoring_every_row_matches_the_grouped_path():
    rng = np.random.default_rng(5)
    counts = [1, 2, 5, 3, 1, 4]
    matrix = vectors.VectorMatrix("test")
    matrix.revision, matrix.deletions = vectors.current_revision()
    rows = sum(counts)
    block = rng.standard_normal((rows, 6)).astype(np.float32)
    matrix.vectors = block / np.linalg.norm(block, axis=1, keepdims=True)
    matrix.document_ids = np.repeat(np.arange(10, 10 + len(counts)), counts)
    roles = []
    for count in counts:
        roles += [vectors.ROLE_WHOLE, vectors.ROLE_TITLE][:count]
        roles += [vectors.ROLE_PASSAGE] * max(0, count - 2)
    matrix.roles = np.array(roles, dtype=np.int8)
    matrix.kinds = np.zeros(rows, dtype=np.int16)
    matrix.kind_codes = {"article": 0}
    matrix.alive = np.ones(rows, dtype=bool)
    query = matrix.vectors[3]
    every_id = set(range(10, 10 + len(counts)))
    fast = matrix.scores(query, kinds=["article"], allowed_ids=every_id)
    matrix.ids_sorted = False  # forces the general path (masks, np.unique)
    grouped = matrix.scores(query, kinds=["article"], allowed_ids=None)
    assert list(fast.document_ids) == list(grouped.document_ids)
    for field in ("whole", "title", "best_passage"):
        assert np.allclose(getattr(fast, field), getattr(grouped, field))
