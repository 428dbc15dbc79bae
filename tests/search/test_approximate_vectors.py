"""The ANN index of large one-vector-per-document matrices (search/vectors.py).

A matrix of a few thousand clustered vectors stands in for a million tickets
(ANN_MIN_ROWS is lowered); the exact scan of the same matrix is the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from concierge.search import vectors

ROWS, DIM = 6_000, 32


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 1_000)
    monkeypatch.setattr(vectors, "ANN_CANDIDATES", 200)
    # No database: the matrix below is filled in memory and stays current.
    monkeypatch.setattr(vectors, "current_revision", lambda: (1, 0))


def _clustered(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((60, DIM)).astype(np.float32)
    block = centres[rng.integers(0, 60, rows)] + 0.5 * rng.standard_normal((rows, DIM))
    block = block.astype(np.float32)
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def _matrix(block: np.ndarray, *, kinds: np.ndarray | None = None) -> vectors.VectorMatrix:
    matrix = vectors.VectorMatrix("test-ann")
    matrix.revision, matrix.deletions = 1, 0
    matrix.vectors = block
    matrix.document_ids = np.arange(1, len(block) + 1, dtype=np.int64) * 10
    matrix.kind_codes = {"ticket": 0, "customer": 1}
    matrix.kinds = np.zeros(len(block), dtype=np.int16) if kinds is None else kinds
    matrix.roles = np.zeros(len(block), dtype=np.int8)
    matrix.alive = np.ones(len(block), dtype=bool)
    return matrix


def _best(scores: vectors.DocumentScores, count: int = 10) -> list[int]:
    order = np.argsort(-scores.whole, kind="stable")[:count]
    return [int(document_id) for document_id in scores.document_ids[order]]


def _exact(matrix: vectors.VectorMatrix, query: np.ndarray, kinds: list[str]) -> list[int]:
    matrix.approximate = False
    try:
        return _best(matrix.scores(query, kinds=kinds, allowed_ids=None))
    finally:
        matrix.approximate = True


def test_the_index_finds_what_the_exact_scan_finds(small_threshold: None) -> None:
    block = _clustered(ROWS, seed=1)
    matrix = _matrix(block)
    queries = _clustered(40, seed=2)
    # Before the index is built, searches scan exactly (and start the build).
    first = matrix.scores(queries[0], kinds=["ticket"], allowed_ids=None)
    assert first.document_ids.size == ROWS
    assert matrix.wait_for_ann(timeout=60)
    recalls = []
    for query in queries:
        approximate = matrix.scores(query, kinds=["ticket"], allowed_ids=None)
        # Only the candidates come back, in document order, scored exactly.
        assert approximate.document_ids.size <= vectors.ANN_CANDIDATES
        assert approximate.ids_sorted
        assert np.all(np.diff(approximate.document_ids) > 0)
        rows = approximate.document_ids // 10 - 1
        assert np.allclose(approximate.whole, block[rows] @ query, atol=1e-5)
        expected = _exact(matrix, query, ["ticket"])
        recalls.append(len(set(_best(approximate)) & set(expected)) / 10)
    assert np.mean(recalls) >= 0.9


def test_dead_rows_and_other_kinds_never_come_back(small_threshold: None) -> None:
    block = _clustered(ROWS, seed=3)
    kinds = np.where(np.arange(ROWS) % 3 == 0, 1, 0).astype(np.int16)
    matrix = _matrix(block, kinds=kinds)
    assert matrix.wait_for_ann(timeout=60)
    query = block[43]
    matrix.alive[43] = False  # the nearest row of all: a changed ticket's old vector
    scores = matrix.scores(query, kinds=["ticket"], allowed_ids=None)
    rows = scores.document_ids // 10 - 1
    assert 43 not in set(rows.tolist())
    assert np.all(kinds[rows] == 0)
    assert np.all(matrix.alive[rows])
    assert len(set(_best(scores)) & set(_exact(matrix, query, ["ticket"]))) >= 8


def test_rows_appended_by_a_refresh_are_found(
    small_threshold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = _clustered(ROWS, seed=4)
    matrix = _matrix(block)
    assert matrix.wait_for_ann(timeout=60)
    newcomer = _clustered(1, seed=5)
    fetched = (
        newcomer,
        np.array([999_990], dtype=np.int64),
        np.zeros(1, dtype=np.int16),
        np.zeros(1, dtype=np.int8),
    )
    monkeypatch.setattr(matrix, "_fetch", lambda after_revision: fetched)
    monkeypatch.setattr(vectors, "current_revision", lambda: (2, 0))
    matrix.refresh()  # incremental: one new row appended
    scores = matrix.scores(newcomer[0], kinds=["ticket"], allowed_ids=None)
    assert _best(scores, 1) == [999_990]


def test_a_reload_during_the_build_discards_the_stale_index(small_threshold: None) -> None:
    matrix = _matrix(_clustered(ROWS, seed=6))
    load_number = matrix._full_loads
    matrix._full_loads += 1  # as a full reload would, while the old build runs
    matrix._build_ann(matrix.vectors, load_number)
    assert matrix._ann is None
    matrix._build_ann(matrix.vectors, matrix._full_loads)
    assert matrix._ann is not None


def test_small_matrices_stay_exact(small_threshold: None) -> None:
    matrix = _matrix(_clustered(500, seed=7))
    scores = matrix.scores(_clustered(1, seed=8)[0], kinds=["ticket"], allowed_ids=None)
    assert scores.document_ids.size == 500
    assert matrix._ann_builder is None
